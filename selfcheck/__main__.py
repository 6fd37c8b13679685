"""`python -m selfcheck PATH ...`: the same as `python check_solution.py PATH ...`."""
import sys

from selfcheck.runner import main

sys.exit(main())
