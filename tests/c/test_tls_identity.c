/* TLS identities and keystores: create, PKCS#12 and PEM round trips, fingerprints,
 * keystore store/get/list/delete, wrong passwords and bad input. */
#include "check.h"

#include <ctype.h>

static p2p_error err = P2P_ERROR_INIT;

static char *fingerprint(p2p_tls_identity id)
{
    char *hex = NULL;
    EXPECT(P2P_OK, p2p_tls_identity_fingerprint(id, &hex, &err));
    CHECK(hex != NULL && strlen(hex) == 64);
    for (const char *p = hex; *p; p++)
        CHECK((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    return hex;
}

static p2p_tls_identity create_server(const char *cn, uint8_t key_type)
{
    p2p_tls_identity_options opts = P2P_TLS_IDENTITY_OPTIONS_INIT;
    opts.key_type = key_type;
    opts.common_name = cn;
    opts.organization = "libp2psync tests";
    opts.subject_alt_names_json = "[\"localhost\",\"127.0.0.1\"]";
    opts.validity_days = 30;
    p2p_tls_identity id = 0;
    EXPECT(P2P_OK, p2p_tls_identity_create(&opts, &id, &err));
    CHECK(id != 0);
    return id;
}

static void test_create(void)
{
    p2p_tls_identity ec = create_server("peer-ec", P2P_KEY_EC_P256);
    p2p_tls_identity rsa = create_server("peer-rsa", P2P_KEY_RSA_2048);
    char *a = fingerprint(ec), *b = fingerprint(rsa);
    CHECK(strcmp(a, b) != 0);

    int64_t not_after = 0;
    EXPECT(P2P_OK, p2p_tls_identity_not_after(ec, &not_after, &err));
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    CHECK(not_after > now_ms + 29LL * 86400 * 1000 && not_after < now_ms + 31LL * 86400 * 1000);

    char *chain = NULL;
    EXPECT(P2P_OK, p2p_tls_identity_chain_pem(ec, &chain, &err));
    CHECK_CONTAINS(chain, "-----BEGIN CERTIFICATE-----");
    CHECK(strstr(chain, "PRIVATE KEY") == NULL);
    p2p_free(chain);

    /* defaults (NULL options) and the options_init function */
    p2p_tls_identity plain = 0;
    EXPECT(P2P_OK, p2p_tls_identity_create(NULL, &plain, &err));
    p2p_tls_identity_options opts;
    memset(&opts, 0xab, sizeof opts);
    EXPECT(P2P_OK, p2p_tls_identity_options_init(&opts, sizeof opts, &err));
    CHECK(opts.struct_size == sizeof opts && opts.common_name == NULL && opts.issuer == 0);
    CHECK(opts.key_type == 0 && opts.usage == 0 && opts.is_ca == 0 && opts.reserved[4] == 0);

    /* a CA signs a leaf: the leaf's chain holds both certificates */
    opts.is_ca = 1;
    opts.common_name = "test CA";
    p2p_tls_identity ca = 0, leaf = 0;
    EXPECT(P2P_OK, p2p_tls_identity_create(&opts, &ca, &err));
    p2p_tls_identity_options lopts = P2P_TLS_IDENTITY_OPTIONS_INIT;
    lopts.issuer = ca;
    lopts.usage = P2P_TLS_USAGE_CLIENT;
    EXPECT(P2P_OK, p2p_tls_identity_create(&lopts, &leaf, &err));
    EXPECT(P2P_OK, p2p_tls_identity_chain_pem(leaf, &chain, &err));
    CHECK(strstr(strstr(chain, "BEGIN CERTIFICATE") + 1, "BEGIN CERTIFICATE") != NULL);
    p2p_free(chain);
    lopts.issuer = leaf; /* not a CA */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_create(&lopts, &plain, &err));

    /* bad options */
    p2p_tls_identity_options bad = P2P_TLS_IDENTITY_OPTIONS_INIT;
    bad.key_type = 9;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_create(&bad, &plain, &err));
    bad.key_type = 0;
    bad.subject_alt_names_json = "[\"x\",";
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_create(&bad, &plain, &err));
    bad.subject_alt_names_json = "{\"not\":\"an array\"}";
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_create(&bad, &plain, &err));
    bad.subject_alt_names_json = NULL;
    bad.common_name = "\xff\xfe";
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_create(&bad, &plain, &err));
    bad.common_name = NULL;
    bad.struct_size = 4;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_create(&bad, &plain, &err));
    bad.struct_size = sizeof bad;
    bad.issuer = 12345;
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_tls_identity_create(&bad, &plain, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_create(NULL, NULL, &err));

    p2p_free(a);
    p2p_free(b);
    EXPECT(P2P_OK, p2p_tls_identity_close(ec, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(ec, &err)); /* idempotent */
    EXPECT(P2P_OK, p2p_tls_identity_close(rsa, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(plain, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(leaf, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(ca, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(0, &err));
}

static void test_pkcs12_round_trip(void)
{
    p2p_tls_identity id = create_server("p12", P2P_KEY_EC_P256);
    char *fp = fingerprint(id);
    uint8_t *data = NULL;
    size_t len = 0;
    EXPECT(P2P_OK, p2p_tls_identity_export_pkcs12(id, "s3cret", &data, &len, &err));
    CHECK(data != NULL && len > 100);

    p2p_tls_identity back = 0;
    EXPECT(P2P_OK, p2p_tls_identity_import_pkcs12(data, len, "s3cret", &back, &err));
    char *fp2 = fingerprint(back);
    CHECK(strcmp(fp, fp2) == 0);

    EXPECT(P2P_ERR_WRONG_PASSWORD, p2p_tls_identity_import_pkcs12(data, len, "wrong", &back, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_import_pkcs12(data, len / 2, "s3cret", &back, &err));
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00, 0xff};
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_import_pkcs12(junk, sizeof junk, "x", &back, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_import_pkcs12(NULL, 0, "x", &back, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_export_pkcs12(id, "x", NULL, &len, &err));

    p2p_free(data);
    p2p_free(fp);
    p2p_free(fp2);
    EXPECT(P2P_OK, p2p_tls_identity_close(back, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(id, &err));
}

static void test_pem_round_trip(void)
{
    p2p_tls_identity id = create_server("pem", P2P_KEY_RSA_2048);
    char *fp = fingerprint(id);
    char *cert = NULL, *key = NULL, *enc_cert = NULL, *enc_key = NULL;
    EXPECT(P2P_OK, p2p_tls_identity_export_pem(id, NULL, &cert, &key, &err));
    CHECK_CONTAINS(cert, "BEGIN CERTIFICATE");
    CHECK_CONTAINS(key, "-----BEGIN PRIVATE KEY-----");
    EXPECT(P2P_OK, p2p_tls_identity_export_pem(id, "pw", &enc_cert, &enc_key, &err));
    CHECK_CONTAINS(enc_key, "-----BEGIN ENCRYPTED PRIVATE KEY-----");

    p2p_tls_identity a = 0, b = 0, c = 0;
    EXPECT(P2P_OK, p2p_tls_identity_import_pem(cert, key, NULL, &a, &err));
    EXPECT(P2P_OK, p2p_tls_identity_import_pem(enc_cert, enc_key, "pw", &b, &err));
    /* key and chain in one text, key_pem NULL */
    size_t n = strlen(cert) + strlen(key) + 1;
    char *both = malloc(n);
    CHECK(both != NULL);
    snprintf(both, n, "%s%s", key, cert);
    EXPECT(P2P_OK, p2p_tls_identity_import_pem(both, NULL, NULL, &c, &err));
    char *fa = fingerprint(a), *fb = fingerprint(b), *fc = fingerprint(c);
    CHECK(strcmp(fp, fa) == 0 && strcmp(fp, fb) == 0 && strcmp(fp, fc) == 0);

    p2p_tls_identity bad = 0;
    EXPECT(P2P_ERR_WRONG_PASSWORD, p2p_tls_identity_import_pem(enc_cert, enc_key, "nope", &bad, &err));
    EXPECT(P2P_ERR_WRONG_PASSWORD, p2p_tls_identity_import_pem(enc_cert, enc_key, NULL, &bad, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_import_pem("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", key, NULL, &bad, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_import_pem("hello", NULL, NULL, &bad, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_import_pem(cert, NULL, NULL, &bad, &err)); /* no key */
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_import_pem(NULL, key, NULL, &bad, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_import_pem(cert, key, NULL, NULL, &err));
    /* a key that matches no certificate of the chain */
    p2p_tls_identity other = create_server("other", P2P_KEY_EC_P256);
    char *ocert = NULL, *okey = NULL;
    EXPECT(P2P_OK, p2p_tls_identity_export_pem(other, NULL, &ocert, &okey, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_import_pem(cert, okey, NULL, &bad, &err));

    free(both);
    p2p_free(cert);
    p2p_free(key);
    p2p_free(enc_cert);
    p2p_free(enc_key);
    p2p_free(ocert);
    p2p_free(okey);
    p2p_free(fp);
    p2p_free(fa);
    p2p_free(fb);
    p2p_free(fc);
    EXPECT(P2P_OK, p2p_tls_identity_close(a, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(b, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(c, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(other, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(id, &err));
}

static void test_keystore(void)
{
    char *dir = make_temp_dir();
    char *path = path_join(dir, "ids.keystore");
    p2p_keystore ks = 0;
    EXPECT(P2P_OK, p2p_keystore_open(path, "store-pw", &ks, &err));
    char *json = NULL;
    EXPECT(P2P_OK, p2p_keystore_list(ks, &json, &err));
    CHECK(strcmp(json, "[]") == 0);
    p2p_free(json);

    p2p_tls_identity one = create_server("one", P2P_KEY_EC_P256);
    p2p_tls_identity two = create_server("two", P2P_KEY_EC_P256);
    EXPECT(P2P_OK, p2p_keystore_store(ks, "server", one, &err));
    EXPECT(P2P_OK, p2p_keystore_store(ks, "client", two, &err));
    EXPECT(P2P_OK, p2p_keystore_list(ks, &json, &err));
    CHECK(strcmp(json, "[\"client\",\"server\"]") == 0);
    p2p_free(json);
    EXPECT(P2P_OK, p2p_keystore_close(ks, &err));
    EXPECT(P2P_OK, p2p_keystore_close(ks, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_keystore_list(ks, &json, &err));

    /* reopen: identities survive; wrong password refused and the file untouched */
    EXPECT(P2P_ERR_WRONG_PASSWORD, p2p_keystore_open(path, "guess", &ks, &err));
    EXPECT(P2P_OK, p2p_keystore_open(path, "store-pw", &ks, &err));
    p2p_tls_identity got = 0;
    EXPECT(P2P_OK, p2p_keystore_get(ks, "server", &got, &err));
    char *f1 = fingerprint(one), *f2 = fingerprint(got);
    CHECK(strcmp(f1, f2) == 0);
    EXPECT(P2P_ERR_NOT_FOUND, p2p_keystore_get(ks, "nobody", &got, &err));
    EXPECT(P2P_OK, p2p_keystore_delete(ks, "server", &err));
    EXPECT(P2P_ERR_NOT_FOUND, p2p_keystore_delete(ks, "server", &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_keystore_store(ks, "", one, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_keystore_store(ks, "x", ks, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_keystore_get(ks, NULL, &got, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_keystore_close(one, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_keystore_open(path, "", &ks, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_keystore_open(NULL, "x", &ks, &err));

    /* a file that is not a keystore */
    char *junk = path_join(dir, "junk");
    FILE *f = fopen(junk, "w");
    CHECK(f != NULL);
    fputs("definitely not a keystore", f);
    fclose(f);
    p2p_keystore k2 = 0;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_keystore_open(junk, "pw", &k2, &err));

    p2p_free(f1);
    p2p_free(f2);
    free(junk);
    EXPECT(P2P_OK, p2p_tls_identity_close(got, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(one, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(two, &err));
    EXPECT(P2P_OK, p2p_keystore_close(ks, &err));
    free(path);
    remove_tree(dir);
}

static void test_handles(void)
{
    char *hex = NULL;
    int64_t ms = 0;
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_tls_identity_fingerprint(0, &hex, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_tls_identity_not_after(42, &ms, &err));
    p2p_tls_identity id = create_server("h", P2P_KEY_EC_P256);
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_fingerprint(id, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_identity_not_after(id, NULL, &err));
    EXPECT(P2P_OK, p2p_tls_identity_close(id, &err));
    EXPECT(P2P_ERR_INVALID_HANDLE, p2p_tls_identity_fingerprint(id, &hex, &err));
    /* p2p_strdup hands text to the library's allocator */
    char *copy = p2p_strdup("merged");
    CHECK(copy != NULL && strcmp(copy, "merged") == 0);
    p2p_free(copy);
    CHECK(p2p_strdup(NULL) == NULL);
    CHECK(strcmp(p2p_status_string(P2P_ERR_TLS_PIN_MISMATCH), "P2P_ERR_TLS_PIN_MISMATCH") == 0);
    CHECK(strcmp(p2p_status_string(P2P_ERR_WRONG_PASSWORD), "P2P_ERR_WRONG_PASSWORD") == 0);
}

/* The fingerprint of a PEM certificate and the one output form of every input form. */
static void test_fingerprint_functions(void)
{
    p2p_tls_identity id = create_server("fp", P2P_KEY_EC_P256);
    char *fp = fingerprint(id), *chain = NULL, *hex = NULL;
    EXPECT(P2P_OK, p2p_tls_identity_chain_pem(id, &chain, &err));
    EXPECT(P2P_OK, p2p_tls_certificate_fingerprint(chain, &hex, &err));
    CHECK(strcmp(hex, fp) == 0);
    p2p_free(hex);
    char colons[96], upper_prefixed[104], spaced[96];
    for (size_t i = 0; i < 32; i++) {
        colons[3 * i] = (char)toupper((unsigned char)fp[2 * i]);
        colons[3 * i + 1] = (char)toupper((unsigned char)fp[2 * i + 1]);
        colons[3 * i + 2] = i == 31 ? '\0' : ':';
    }
    snprintf(upper_prefixed, sizeof upper_prefixed, "SHA256:%s", colons);
    memcpy(spaced, colons, sizeof spaced);
    for (char *p = spaced; *p; p++)
        if (*p == ':')
            *p = ' ';
    const char *forms[] = {fp, colons, upper_prefixed, spaced};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        hex = NULL;
        EXPECT(P2P_OK, p2p_tls_fingerprint_normalize(forms[i], &hex, &err));
        CHECK(hex != NULL && strcmp(hex, fp) == 0);
        p2p_free(hex);
    }
    hex = NULL;
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_fingerprint_normalize("ab01", &hex, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_fingerprint_normalize(NULL, &hex, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_fingerprint_normalize(fp, NULL, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_certificate_fingerprint("no certificate", &hex, &err));
    EXPECT(P2P_ERR_INVALID_ARGUMENT, p2p_tls_certificate_fingerprint(NULL, &hex, &err));
    CHECK(hex == NULL);
    p2p_free(chain);
    p2p_free(fp);
    EXPECT(P2P_OK, p2p_tls_identity_close(id, &err));
}

int main(void)
{
    test_create();
    test_pkcs12_round_trip();
    test_pem_round_trip();
    test_keystore();
    test_handles();
    test_fingerprint_functions();
    return finish("test_tls_identity");
}
