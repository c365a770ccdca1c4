"""`python -m tunewise.cli` runs the command line."""

import sys

from tunewise.cli import main

sys.exit(main())
