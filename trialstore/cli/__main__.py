"""``python -m trialstore.cli``."""

import sys

from trialstore.cli import main

sys.exit(main())
