"""``python -m kerasnets`` -> the command line."""

import sys

from kerasnets.cli import main

sys.exit(main())
