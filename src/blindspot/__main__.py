"""`python -m blindspot`: the same as the `blindspot` command."""

import sys

from .cli import main

sys.exit(main())
