"""The same checks and points on Gradescope: a self-contained autograder zip, and what runs in it.

    python check_solution.py --gradescope-bundle autograder.zip [--points FILE] [--timeout S] [--only MODULE ...]

The zip holds, at its root, Gradescope's `setup.sh` (installs numpy and scipy, nothing else) and `run_autograder`,
this package, the modules of the repository's root that it imports (atomic.py, validation.py, ...) and
`autograder.json` (the points, --only and --timeout the zip was built with). Gradescope unpacks it into
/autograder/source; `run_autograder` runs `$PYTHON -m selfcheck.gradescope` (PYTHON defaults to python3), which
grades $AUTOGRADER_ROOT/submission (AUTOGRADER_ROOT defaults to /autograder) as `--grade` grades one student and
writes $AUTOGRADER_ROOT/results/results.json in Gradescope's format: every check a test, all visible.
"""
import ast
import json
import os
import sys
import time
import zipfile

from atomic import atomic_write
from selfcheck import grading
from selfcheck import points as points_module
from selfcheck.runner import checker_version, choose
from selfcheck.worker import REPO, load_checks

PACKAGE = os.path.dirname(os.path.abspath(__file__))

CONFIG = "autograder.json"

SETUP = """#!/usr/bin/env bash
# Gradescope's setup: Python 3 with numpy and scipy; the checker needs nothing else.
set -eu
if ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update && apt-get install -y python3 python3-pip
fi
python3 -m pip install --upgrade numpy scipy || python3 -m pip install --break-system-packages --upgrade numpy scipy
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Grade $AUTOGRADER_ROOT/submission (default /autograder) with the checks of check_solution.py and write
# $AUTOGRADER_ROOT/results/results.json; $PYTHON (default python3) runs the checker.
set -eu
ROOT="${AUTOGRADER_ROOT:-/autograder}"
cd "$ROOT/source"
exec "${PYTHON:-python3}" -m selfcheck.gradescope "$ROOT"
"""


def build_bundle(target, points_file=None, timeout=30.0, only=None, overwrite=False):
    """Write the Gradescope autograder zip `target`.

    Parameters
    ----------
    target : str
        The zip to write; refused when it exists, unless `overwrite`.
    points_file, timeout, only
        As for grading.grade_class: the bundle grades with them.

    Raises
    ------
    FileExistsError, ValueError, TypeError, FileNotFoundError
        Before anything is written.
    """
    if os.path.isdir(target):
        raise IsADirectoryError(f"--gradescope-bundle must name a .zip file, got the folder {target!r}")
    if os.path.lexists(target) and not overwrite:
        raise FileExistsError(f"--gradescope-bundle {target!r} exists: give another name, or add --overwrite")
    registry = load_checks()
    table = points_module.points_table(points_file, registry)
    ids = [check.id for check in choose(registry, only, [""])]
    config = {"points": {check_id: table[check_id] for check_id in ids}, "only": only, "timeout": timeout,
              "checker_version": checker_version()}
    with atomic_write(target) as file, zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text, mode in (("setup.sh", SETUP, 0o755), ("run_autograder", RUN_AUTOGRADER, 0o755),
                                 (CONFIG, json.dumps(config, indent=1), 0o644)):
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, text)
        for path in checker_files():
            bundle.write(os.path.join(REPO, path), path)


def checker_files():
    """The checker's files, relative to the repository: every .py file of this package and the modules of the
    repository's root that they import, directly or not."""
    files = sorted(os.path.relpath(os.path.join(folder, name), REPO) for folder, names, found in os.walk(PACKAGE)
                   for name in found if name.endswith(".py") and "__pycache__" not in folder)
    pending, seen = list(files), set(files)
    while pending:
        with open(os.path.join(REPO, pending.pop()), encoding="utf-8") as file:
            tree = ast.parse(file.read())
        for name in _imported_modules(tree):
            module = f"{name}.py"
            if module not in seen and os.path.isfile(os.path.join(REPO, module)):
                seen.add(module)
                pending.append(module)
                files.append(module)
    return files


def _imported_modules(tree):
    """The top-level names of the modules that `tree` imports absolutely."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.partition(".")[0]


def results(record):
    """Gradescope's results.json of a graded submission (grading.grade_one's record): one visible test per check."""
    numbers, tests = {}, []
    for entry in record["checks"]:
        module_number = numbers.setdefault(entry["module"], [len(numbers) + 1, 0])
        module_number[1] += 1
        earned = entry["status"] in points_module.EARNING
        output = entry["status"] + (f": {entry['message']}" if entry["message"] else "")
        if entry["hint"]:
            output += f"\nHint: {entry['hint']}"
        tests.append({"name": f"{entry['module']}.py: {entry['id']}", "number": "{}.{}".format(*module_number),
                      "score": entry["earned"], "max_score": entry["points"],
                      "status": "passed" if earned else "failed", "output": output, "visibility": "visible"})
    where = record["found_in"]
    lines = [points_module.score_line(record),
             f"Modules found in {where}/ of the submission." if where not in (None, ".") else ""]
    lines += [f"Note: {note}." for note in record["notes"]]
    lines.append(f"Points: {points_module.RULE}. Run `python check_solution.py YOUR_FOLDER` for the same checks.")
    return {"score": record["score"], "execution_time": round(record["seconds"]),
            "output": "\n".join(line for line in lines if line), "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


def main(argv):
    """`python -m selfcheck.gradescope ROOT` (run_autograder): grade ROOT/submission into ROOT/results/."""
    root = argv[1]
    with open(os.path.join(REPO, CONFIG), encoding="utf-8") as file:
        config = json.load(file)
    start = time.monotonic()
    record = grading.grade_one("submission", os.path.join(root, "submission"), config["points"], config["only"],
                               config["timeout"])
    record["seconds"] = time.monotonic() - start
    os.makedirs(os.path.join(root, "results"), exist_ok=True)
    with atomic_write(os.path.join(root, "results", "results.json")) as file:
        file.write(json.dumps(results(record), indent=1).encode())
    print(points_module.score_line(record))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
