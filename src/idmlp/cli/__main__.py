"""``python -m idmlp.cli``: the ``idmlp`` command without the console script."""

import sys

from . import main

sys.exit(main())
