import sys

from dataflow_governance.cli import main

sys.exit(main())
