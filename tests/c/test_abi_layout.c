/* Golden layout: every public struct's field offsets and sizes, and its sizeof, are held
 * against tests/c/abi_layout.golden, so that a layout change is always deliberate. It
 * also checks that no struct has implicit padding: each field starts where the previous
 * one ended and the last one ends at sizeof.
 *
 *   test_abi_layout GOLDEN           compares (the ctest run)
 *   test_abi_layout --print          prints the current layout in the golden format
 *
 * Changing a public struct within ABI 2 means appending fields (or carving them out of
 * reserved bytes): regenerate the golden file with --print and review the diff, in which
 * only added lines and the struct's size line may change. The golden file is for LP64
 * (x86_64, aarch64 Linux); elsewhere the test says so and fails. */
#include "p2psync.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct field {
    const char *type;
    const char *name; /* NULL: the row holding the struct's sizeof */
    size_t offset;
    size_t size;
};

#define F(T, f) {#T, #f, offsetof(T, f), sizeof(((T *)0)->f)}
#define END(T) {#T, NULL, 0, sizeof(T)}

static const struct field fields[] = {
    F(p2p_error, code),
    F(p2p_error, domain),
    F(p2p_error, message),
    END(p2p_error),

    F(p2p_db_options, struct_size),
    F(p2p_db_options, max_rev_tree_depth),
    F(p2p_db_options, disable_create),
    F(p2p_db_options, disable_delta_sync),
    F(p2p_db_options, reserved),
    END(p2p_db_options),

    F(p2p_tls_identity_options, struct_size),
    F(p2p_tls_identity_options, validity_days),
    F(p2p_tls_identity_options, issuer),
    F(p2p_tls_identity_options, common_name),
    F(p2p_tls_identity_options, organization),
    F(p2p_tls_identity_options, organizational_unit),
    F(p2p_tls_identity_options, country),
    F(p2p_tls_identity_options, locality),
    F(p2p_tls_identity_options, province),
    F(p2p_tls_identity_options, subject_alt_names_json),
    F(p2p_tls_identity_options, key_type),
    F(p2p_tls_identity_options, usage),
    F(p2p_tls_identity_options, is_ca),
    F(p2p_tls_identity_options, reserved),
    END(p2p_tls_identity_options),

    F(p2p_listener_options, struct_size),
    F(p2p_listener_options, collection_count),
    F(p2p_listener_options, collections),
    F(p2p_listener_options, network_interface),
    F(p2p_listener_options, port),
    F(p2p_listener_options, read_only),
    F(p2p_listener_options, disable_tls),
    F(p2p_listener_options, enable_delta_sync),
    F(p2p_listener_options, disable_version_vectors),
    F(p2p_listener_options, reserved1),
    F(p2p_listener_options, identity),
    F(p2p_listener_options, credentials_json),
    F(p2p_listener_options, password_auth),
    F(p2p_listener_options, password_auth_user_data),
    F(p2p_listener_options, client_cert_roots_pem),
    F(p2p_listener_options, client_cert_auth),
    F(p2p_listener_options, client_cert_auth_user_data),
    F(p2p_listener_options, max_message_size),
    F(p2p_listener_options, max_connection_buffer),
    F(p2p_listener_options, max_connections),
    F(p2p_listener_options, reserved2),
    F(p2p_listener_options, max_checkpoint_size),
    F(p2p_listener_options, max_peer_checkpoints),
    END(p2p_listener_options),

    F(p2p_replication_collection, struct_size),
    F(p2p_replication_collection, reserved1),
    F(p2p_replication_collection, collection),
    F(p2p_replication_collection, doc_ids_json),
    F(p2p_replication_collection, channels_json),
    F(p2p_replication_collection, push_filter),
    F(p2p_replication_collection, push_filter_user_data),
    F(p2p_replication_collection, pull_filter),
    F(p2p_replication_collection, pull_filter_user_data),
    F(p2p_replication_collection, conflict_resolver),
    F(p2p_replication_collection, conflict_resolver_user_data),
    END(p2p_replication_collection),

    F(p2p_replicator_options, struct_size),
    F(p2p_replicator_options, collection_count),
    F(p2p_replicator_options, collections),
    F(p2p_replicator_options, url),
    F(p2p_replicator_options, headers_json),
    F(p2p_replicator_options, username),
    F(p2p_replicator_options, password),
    F(p2p_replicator_options, client_identity),
    F(p2p_replicator_options, trusted_roots_pem),
    F(p2p_replicator_options, pinned_certificate_pem),
    F(p2p_replicator_options, pinned_fingerprint),
    F(p2p_replicator_options, server_name),
    F(p2p_replicator_options, max_message_size),
    F(p2p_replicator_options, max_connection_buffer),
    F(p2p_replicator_options, heartbeat_ms),
    F(p2p_replicator_options, max_attempts),
    F(p2p_replicator_options, max_attempt_wait_ms),
    F(p2p_replicator_options, retry_base_ms),
    F(p2p_replicator_options, type),
    F(p2p_replicator_options, trust_mode),
    F(p2p_replicator_options, continuous),
    F(p2p_replicator_options, disable_auto_purge),
    F(p2p_replicator_options, enable_delta_sync),
    F(p2p_replicator_options, disable_version_vectors),
    F(p2p_replicator_options, reserved1),
    END(p2p_replicator_options),
};
#define NFIELDS (sizeof fields / sizeof fields[0])

/* One line per field ("type field offset size") and per struct ("type sizeof size"). */
static void format(const struct field *f, char *line, size_t n)
{
    if (f->name == NULL)
        snprintf(line, n, "%s sizeof %zu", f->type, f->size);
    else
        snprintf(line, n, "%s %s %zu %zu", f->type, f->name, f->offset, f->size);
}

/* No implicit padding: fields are contiguous from offset 0 and end at sizeof. */
static int check_contiguous(void)
{
    int failures = 0;
    size_t end = 0;
    for (size_t i = 0; i < NFIELDS; i++) {
        const struct field *f = &fields[i];
        if (f->name == NULL) {
            if (end != f->size) {
                fprintf(stderr, "%s: %zu bytes of implicit tail padding\n", f->type, f->size - end);
                failures++;
            }
            end = 0;
            continue;
        }
        if (f->offset != end) {
            fprintf(stderr, "%s.%s: starts at %zu, the previous field ends at %zu (a hole)\n", f->type, f->name,
                    f->offset, end);
            failures++;
        }
        end = f->offset + f->size;
    }
    return failures;
}

int main(int argc, char **argv)
{
    char line[256];
    if (argc == 2 && strcmp(argv[1], "--print") == 0) {
        printf("# tests/c/abi_layout.golden: `type field offset size` and `type sizeof size` (LP64).\n");
        printf("# Regenerate with test_abi_layout --print only for a deliberate, appended change.\n");
        for (size_t i = 0; i < NFIELDS; i++) {
            format(&fields[i], line, sizeof line);
            printf("%s\n", line);
        }
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: test_abi_layout GOLDEN | --print\n");
        return 2;
    }
    if (sizeof(void *) != 8 || sizeof(size_t) != 8) {
        fprintf(stderr, "test_abi_layout: the golden layout is for LP64 platforms only\n");
        return 1;
    }
    FILE *golden = fopen(argv[1], "r");
    if (golden == NULL) {
        perror(argv[1]);
        return 1;
    }
    int failures = check_contiguous();
    size_t i = 0;
    char want[256];
    while (fgets(want, sizeof want, golden) != NULL) {
        want[strcspn(want, "\n")] = 0;
        if (want[0] == '#' || want[0] == 0)
            continue;
        if (i == NFIELDS) {
            fprintf(stderr, "golden line not in the header: %s\n", want);
            failures++;
            continue;
        }
        format(&fields[i++], line, sizeof line);
        if (strcmp(line, want) != 0) {
            fprintf(stderr, "layout changed: golden \"%s\", header \"%s\"\n", want, line);
            failures++;
        }
    }
    fclose(golden);
    for (; i < NFIELDS; i++) {
        format(&fields[i], line, sizeof line);
        fprintf(stderr, "header line not in the golden file: %s\n", line);
        failures++;
    }
    if (failures) {
        fprintf(stderr, "test_abi_layout: %d difference(s)\n", failures);
        return 1;
    }
    printf("test_abi_layout: OK (%zu rows)\n", (size_t)NFIELDS);
    return 0;
}
