import sys

from ctlabel.cli import main

sys.exit(main())
