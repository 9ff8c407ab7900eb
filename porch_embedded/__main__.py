import os
import sys

from porch_embedded.cli import main, porchctl_main

# The build's porchctl (dist/porchctl/porchctl) is this program under that name: porchctl's
# verbs and usage at the top level, as the `porchctl` entry point of a pip install.
if os.path.basename(sys.argv[0]) == "porchctl":
    sys.exit(porchctl_main())
sys.exit(main())
