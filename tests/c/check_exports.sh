#!/usr/bin/env bash
# check_exports.sh HEADER EXPORTS [LIBRARY]
# Fails unless the functions declared in HEADER, the committed EXPORTS list and (when
# given) the p2p_* symbols LIBRARY really exports are the same set, in both directions.
set -euo pipefail
header=$1 exports=$2 lib=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sort -u "$exports" > "$tmp/exports"
if ! cmp -s "$exports" "$tmp/exports"; then
    echo "$exports must be sorted and free of duplicates" >&2
    exit 1
fi
grep -E '^P2P_API' "$header" | grep -oE 'p2p_[a-z0-9_]+\(' | tr -d '(' | sort -u > "$tmp/header"
status=0
if ! diff -u --label "declared in $header" --label "$exports" "$tmp/header" "$tmp/exports"; then
    status=1
fi
if [ -n "$lib" ]; then
    nm -D --defined-only "$lib" | awk '{print $3}' | grep -E '^p2p_' | sort -u > "$tmp/lib"
    if ! diff -u --label "$exports" --label "exported by $lib" "$tmp/exports" "$tmp/lib"; then
        status=1
    fi
    # Nothing but the public API may leak out (Go internals, p2pgo_* forwards).
    others=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -vE '^p2p_' | grep -vE '^(_init|_fini|_edata|_end|__bss_start)$' || true)
    if [ -n "$others" ]; then
        echo "unexpected exported symbols:" >&2
        echo "$others" >&2
        status=1
    fi
fi
[ $status = 0 ] && echo "exports OK: $(wc -l < "$tmp/exports") symbols"
exit $status
