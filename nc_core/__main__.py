"""`python -m nc_core {train,study,figures} ...` (see `nc_core.cli.main`)."""

import sys

from nc_core.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
