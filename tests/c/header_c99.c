/* Compiled with -std=c99 -Wall -Wextra -Werror -pedantic: the header must be clean C99,
 * and its macros must build valid initializers. */
#include "p2psync.h"

#include <stdio.h>

int main(void)
{
    p2p_db_options opts = P2P_DB_OPTIONS_INIT;
    p2p_error err = P2P_ERROR_INIT;
    if (opts.struct_size != sizeof(p2p_db_options) || opts.disable_create != 0 || opts.reserved[5] != 0 || err.message != NULL)
        return 1;
    if (P2P_ERR_PRIMARY(P2P_ERR_TLS_EXPIRED) != P2P_ERR_TLS || P2P_ERR_PRIMARY(P2P_ERR_TLS) != P2P_ERR_TLS ||
        P2P_ERR_PRIMARY(P2P_OK) != P2P_OK || P2P_ERR_PRIMARY(P2P_ERR_WRONG_PASSWORD) != P2P_ERR_AUTH)
        return 1;
    if (p2p_abi_version() != P2P_ABI_VERSION)
        return 1;
    printf("header_c99: OK (library %s)\n", p2p_version());
    return p2p_debug_live_handles() == 0 ? 0 : 1;
}
