"""``python -m stylelab ...``: the same as the ``stylelab`` console script."""

import sys

from stylelab.cli import main

if __name__ == "__main__":
    sys.exit(main())
