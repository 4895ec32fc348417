// Compiled as C++ with -Wall -Wextra -Werror -pedantic: the header must be usable from C++.
#include "p2psync.h"

#include <cstdio>
#include <string>

int main()
{
    p2p_db_options opts = P2P_DB_OPTIONS_INIT;
    p2p_error err = P2P_ERROR_INIT;
    p2p_db db = 0;
    int32_t rc = p2p_db_open(nullptr, &opts, &db, &err);
    std::string msg = err.message ? err.message : "";
    p2p_error_dispose(&err);
    if (rc != P2P_ERR_INVALID_ARGUMENT || msg.empty() || db != 0)
        return 1;
    if (std::string(p2p_status_string(P2P_ERR_BUSY)) != "P2P_ERR_BUSY")
        return 1;
    std::printf("header_cxx: OK\n");
    return p2p_debug_live_handles() == 0 ? 0 : 1;
}
