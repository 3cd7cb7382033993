"""``python -m deployctl``: see deployctl.cli."""

import sys

from deployctl.cli import main

sys.exit(main())
