"""Entry point of the `p2psync` console script.

It lives outside the package because importing `p2psync` loads libp2psync.so: a missing
or unloadable library must give one line and exit code 1, not a traceback.
"""

import sys


def main() -> None:
    try:
        from p2psync.cli import main as cli_main
    except (ImportError, OSError) as e:
        print(f"p2psync: cannot load libp2psync: {e}", file=sys.stderr)
        sys.exit(1)
    sys.exit(cli_main())


if __name__ == "__main__":
    main()
