"""`python -m nc_core {train,study,figures} ...` (see `nc_core.commands`)."""

import sys

from nc_core.commands import main

if __name__ == "__main__":
    sys.exit(main())
