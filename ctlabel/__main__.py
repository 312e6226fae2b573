import sys

from ctlabel.cli.main import main

sys.exit(main())
