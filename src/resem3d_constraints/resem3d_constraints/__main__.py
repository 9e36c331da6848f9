"""``python -m resem3d_constraints``: see :mod:`resem3d_constraints.cli`."""

import sys

from .cli import main

sys.exit(main())
