"""``python -m resem3d``: the same as the ``resem3d`` command."""

import sys

from .cli import main

sys.exit(main())
