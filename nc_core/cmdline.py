"""What every command line of the project shares: a parser whose errors are one line.

argparse prints its usage block before an error; here a bad input gives exactly one line on
stderr (`PROG: error: MESSAGE`) and exit status 2, before any work, as the README promises.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse.ArgumentParser with one-line errors (no usage block; `--help` shows it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def fail(prog: str, message: str) -> int:
    """Print the one-line error of `prog` and return exit status 2 (for `return fail(...)`)."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2
