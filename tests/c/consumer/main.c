#include <stdio.h>
#include "p2psync.h"

int main(void)
{
    if (p2p_abi_version() != P2P_ABI_VERSION)
        return 1;
    printf("consumer linked against libp2psync %s\n", p2p_version());
    return 0;
}
