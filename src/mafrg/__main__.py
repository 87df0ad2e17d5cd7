import sys

from mafrg.cli.main import main

sys.exit(main())
