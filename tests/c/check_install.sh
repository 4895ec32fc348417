#!/usr/bin/env bash
# check_install.sh BUILDDIR CONSUMERDIR — installs the build into a scratch prefix, then
# builds and runs a consumer through find_package(p2psync) and through pkg-config.
set -euo pipefail
build=$1 consumer=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
lib=$(ls -d "$tmp"/prefix/lib*/ | head -n1)
for f in libp2psync.so libp2psync.so.2 pkgconfig/p2psync.pc cmake/p2psync/p2psyncConfig.cmake; do
    [ -e "$lib/$f" ] || { echo "not installed: $lib$f" >&2; exit 1; }
done
[ -f "$tmp/prefix/include/p2psync.h" ] || { echo "header not installed" >&2; exit 1; }

cmake -S "$consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
"$tmp/consumer/consumer"

flags=$(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --cflags --libs p2psync)
cc "$consumer/main.c" $flags -Wl,-rpath,"${lib%/}" -o "$tmp/pc-consumer"
"$tmp/pc-consumer"
echo "install OK"
