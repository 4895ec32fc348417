#!/bin/sh
# Doxygen's INPUT_FILTER for include/p2psync.h (see docs/Doxyfile): the header stays plain
# C with plain comments; this turns them into Doxygen comments (docs/doxygen.sed), and gives
# each function declared right after another without a comment of its own (one comment
# for a group, e.g. p2p_db_name/path/uuid) a copy of the group's documentation (on the same line: line numbers are kept).
sed -f "$(dirname "$0")/doxygen.sed" "$1" | awk '
    /^P2P_API/ {
        name = $0; sub(/\(.*/, "", name); sub(/.*[ *]/, "", name)
        if (prev ~ /\*\/[ \t]*$/) documented = name
        else if (documented != "") $0 = "/** \\copydoc " documented " */ " $0
    }
    { print; if ($0 !~ /^[ \t]*$/) prev = $0 }'
