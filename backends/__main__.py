"""``python -m backends serve|orders|reco|train-reco`` (see ``backends.cli``)."""

import sys

from backends.cli import main

if __name__ == "__main__":
    sys.exit(main())
