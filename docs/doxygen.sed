# Turns the header's plain comments into Doxygen ones (the header itself stays plain C):
# the opening comment documents the file, a comment at the start of a line documents the
# declaration after it, and a comment after a member, value or #define documents that.
1s|^/\* |/** |
1,/\*\//{/\*\//s|\*/|@file */|;}
2,${/^\/\* -/!s|^/\* |/** |}
s|\([;,]\)\([ ]*\)/\* |\1\2/**< |
s|^\(#define P2P_[A-Z0-9_]*[ ]\{1,\}[^/ ][^/]*\)/\* |\1/**< |
s|<\([a-z_][a-z_ ]*\)>|\\<\1\\>|g
