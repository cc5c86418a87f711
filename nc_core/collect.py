"""`python -m nc_core.collect`: the short name of `nc_core.results.collect` (single-run tables
into one study's tables)."""

import sys

from nc_core.results.collect import main

if __name__ == "__main__":
    sys.exit(main())
