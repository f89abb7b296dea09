"""``python -m smsgate.cli``."""

import sys

from smsgate.cli import main

sys.exit(main())
