"""`python -m nc_core.train`: one training run from the command line (`nc_core.cli.train`)."""

import sys

from nc_core.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
