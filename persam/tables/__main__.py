import sys

from persam.tables.cli import main

sys.exit(main())
