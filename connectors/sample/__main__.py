"""`python -m connectors.sample`: generate the sample data set."""

import sys

from connectors.sample.writer import main

sys.exit(main())
