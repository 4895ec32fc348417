"""`python3 -m p2psync ...` runs the command-line tool (see p2psync.cli)."""

import sys

from .cli import main

sys.exit(main())
