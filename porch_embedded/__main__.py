import sys

from porch_embedded.cli import main

sys.exit(main())
