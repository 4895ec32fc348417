#!/usr/bin/env bash
# check_soname.sh LIBDIR VERSION SONAME — the library file, its SONAME and the
# development symlinks follow the versioning rule (SONAME major = P2P_ABI_VERSION).
set -euo pipefail
dir=$1 version=$2 soname=$3
real="$dir/libp2psync.so.$version"
[ -f "$real" ] || { echo "missing $real" >&2; exit 1; }
got=$(readelf -d "$real" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ "$got" = "$soname" ] || { echo "SONAME is '$got', expected '$soname'" >&2; exit 1; }
[ "$(readlink "$dir/$soname")" = "libp2psync.so.$version" ] || { echo "$dir/$soname must link to the real file" >&2; exit 1; }
[ "$(readlink "$dir/libp2psync.so")" = "$soname" ] || { echo "$dir/libp2psync.so must link to $soname" >&2; exit 1; }
echo "SONAME OK: $soname -> libp2psync.so.$version"
