import sys

from mafrg.cli import main

sys.exit(main())
