"""`python -m nndsl.cli`: the same command line as `nndsl`."""

import sys

from nndsl.cli import main

sys.exit(main())
