import sys

from ngff_resave.cli import main

sys.exit(main())
