"""``python -m tfpath.cli``: the ``tfpath`` command."""
import sys

from tfpath.cli import main

sys.exit(main())
