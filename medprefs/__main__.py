import sys

from medprefs.cli import main

sys.exit(main())
