"""`python -m labctl.cli ...`: the same command line as `labctl ...`."""

import sys

from labctl.cli import main

sys.exit(main())
