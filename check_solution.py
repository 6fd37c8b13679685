"""Check your own solution: run the named checks of the assignment on anyone's layers.py, model.py, optim.py, ...

    python check_solution.py PATH [--only MODULE ...] [--json FILE] [--timeout SECONDS] [--strict] [--points FILE]
    python check_solution.py --grade SUBMISSIONS --out DIR [--jobs N] [--points FILE] ...   (docs/grading.md)
    python check_solution.py --gradescope-bundle autograder.zip [--points FILE] ...

The self-check lives in the package selfcheck/ (docs/self-check.md); this file keeps its command and its import
path: `check_solution.run(path, only, select, timeout)` is selfcheck.runner.run, and so are the other names below.
"""
import sys

from selfcheck.runner import (  # noqa: F401  (the public names of the self-check)
    RunInterrupted,
    check_folder,
    checker_version,
    exit_code,
    format_report,
    load_checks,
    main,
    run,
    summary_line,
    use_colour,
)

if __name__ == "__main__":
    sys.exit(main())
