"""`python -m bench`: the benchmarks' command line (bench/run.py)."""
import sys

from bench.run import main

sys.exit(main())
