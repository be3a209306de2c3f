import sys

from ngff_resave.cli.main import main

sys.exit(main())
