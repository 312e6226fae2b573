"""``python -m ctlabel``: the ``ctlabel`` command."""

import sys

from ctlabel.cli.main import main

sys.exit(main())
