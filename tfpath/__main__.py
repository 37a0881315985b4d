"""``python -m tfpath ...`` is the ``tfpath`` command."""
import sys

from tfpath.cli import main

sys.exit(main())
