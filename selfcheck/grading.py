"""Grading a whole class: every submission checked in parallel, each isolated as a learner's own run is, and scored.

    python check_solution.py --grade SUBMISSIONS --out DIR [--jobs N] [--points FILE] [--timeout S] [--only MODULE ...]
                             [--overwrite]

Each submission is graded by a process of its own (`python -m selfcheck.grading SPEC`, `grade_one`): it copies the
submission to a private temporary folder (submissions.unpacked), finds the folder holding the modules, runs the
checks there (runner.run, whose workers start under LIMITS) and prints its record as JSON. `grade_class` runs N of
them at a time and hands the records to gradebook.py, which writes DIR. Speed checks are not run: they are `info`,
never worth points, and timed beside other students' work they would measure the neighbours.
"""
import concurrent.futures
import contextlib
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from selfcheck import gradebook
from selfcheck import points as points_module
from selfcheck import submissions as submissions_module
from selfcheck.base import MODULES, STATUSES
from selfcheck.runner import RunInterrupted, choose, run, worker_environment
from selfcheck.worker import load_checks
from validation import check_int, check_number, int_at_least

#: Each grading worker's resource limits (worker.limit_resources): a submission that allocates, forks or writes
#: without end costs its own checks (MemoryError, an error), never the machine. 1 GiB of address space is 7x what a
#: worker with numpy and the checks maps (135 MB, VmPeak); the checks write files of a few kB.
LIMITS = {"memory_bytes": 1 << 30, "file_bytes": 64 << 20, "processes": 64}

#: The seconds of CPU a worker may use, per check it was given, beyond the per-check wall-clock time limit: a backstop
#: for a process that outlives its supervisor.
CPU_SECONDS_PER_CHECK = 60


def grade_class(submissions, out, jobs=None, points_file=None, timeout=30.0, only=None, overwrite=False,
                show=print):
    """Grade every entry of the folder `submissions` and write the gradebook to the folder `out`.

    Parameters
    ----------
    submissions : str
        A folder of one folder or .zip per student (submissions.entries).
    out : str
        The folder to write (gradebook.OUTPUT_FILES); refused when it exists and is not empty, unless `overwrite`
        and it holds only an earlier gradebook.
    jobs : int or None
        Submissions graded at once; None: the cores this process may use.
    points_file : str or None
        A points file (points.load_points); None: the default table.
    timeout : float
        Seconds each check (and each module's import) may take.
    only : list of str or None
        The modules whose checks run; None: all.
    show : callable
        Called with each line of progress and the class summary.

    Returns
    -------
    (dict, str)
        The class report (report.json's content) and the folder it was written to.

    Raises
    ------
    ValueError, TypeError, OSError
        A bad argument, raised before anything runs.
    KeyboardInterrupt
        On Ctrl-C, once every running submission is stopped; nothing is written.
    """
    return execute(prepare(submissions, out, jobs, points_file, timeout, only, overwrite), show)


def prepare(submissions, out, jobs=None, points_file=None, timeout=30.0, only=None, overwrite=False):
    """Check every argument of `grade_class` and return the plan it runs; raises before anything runs."""
    registry = load_checks()
    table = points_module.points_table(points_file, registry)
    students, ignored = submissions_module.entries(os.path.abspath(submissions))
    if out is None:
        raise ValueError("--out DIR is required with --grade: the folder to write the gradebook to")
    _check_out_of(out, submissions)
    gradebook.check_out(out, overwrite)
    if jobs is not None:
        check_int(jobs, "jobs", 1)
    check_number(timeout, "timeout", minimum=0, strict_minimum=True)
    chosen = [check.id for check in choose(registry, only, [""])]
    return {"students": students, "out": out, "overwrite": overwrite, "jobs": jobs or cores(),
            "spec": {"only": only, "timeout": timeout, "points": {check_id: table[check_id] for check_id in chosen}},
            "facts": {"submissions": os.path.abspath(submissions), "jobs": jobs or cores(), "timeout": timeout,
                      "only": only, "points_file": None if points_file is None else os.path.abspath(points_file),
                      "ignored": ignored}}


def execute(plan, show=print):
    """Grade the submissions of `plan` (from `prepare`), write the gradebook, show the summary; see grade_class."""
    started = datetime.datetime.now(datetime.timezone.utc).astimezone()
    start = time.monotonic()
    show(f"Grading {len(plan['students'])} submissions of {plan['facts']['submissions']}, {plan['jobs']} at a time")
    records = _grade_all(plan["students"], plan["spec"], plan["jobs"], show)
    facts = dict(plan["facts"], started_at=started.isoformat(timespec="seconds"),
                 seconds=round(time.monotonic() - start, 3))
    report = gradebook.class_report(records, plan["spec"]["points"], facts)
    where = gradebook.write(report, plan["out"], plan["overwrite"])
    show("")
    show(gradebook.summary(report, where).rstrip("\n"))
    return report, where


def cores():
    """The cores this process may use (the default of --jobs)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _check_out_of(out, submissions):
    """Refuse an --out inside SUBMISSIONS: it would be a student's entry of the next run."""
    inside = os.path.realpath(os.path.abspath(out)) + os.sep
    if inside.startswith(os.path.realpath(submissions) + os.sep):
        raise ValueError(f"--out {out!r} must not be inside SUBMISSIONS {submissions!r}: give a folder beside it")


def _grade_all(students, spec, jobs, show):
    """The records of every (student, entry) of `students`, graded `jobs` at a time, in `students`' order."""
    running, lock, done = set(), threading.Lock(), []

    def grade(student, entry):
        record = _grade_in_process(student, entry, spec, running, lock)
        with lock:
            done.append(student)
            show(f"[{len(done)}/{len(students)}] {_progress_line(record)}")
        return record
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    futures = [pool.submit(grade, student, entry) for student, entry in students]
    try:
        return [future.result() for future in futures]
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()
        with lock:
            for process in running:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGINT)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _progress_line(record):
    if not record["graded"]:
        return f"{record['student']}: not graded: {record['message']}"
    where = "" if record["found_in"] in (None, ".") else f" (modules in {record['found_in']}/)"
    return (f"{record['student']}: {points_module.score_line(record)}{where} in {record['seconds']:.1f} s")


def _grade_in_process(student, entry, spec, running, lock):
    """The record of one submission, graded by a process of its own (grade_one)."""
    start = time.monotonic()
    arguments = json.dumps(dict(spec, student=student, entry=entry))
    process = subprocess.Popen([sys.executable, "-m", "selfcheck.grading", arguments], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=worker_environment(),
                               cwd=tempfile.gettempdir())
    with lock:
        running.add(process)
    try:
        output, errors = process.communicate()
    finally:
        with lock:
            running.discard(process)
    if process.returncode == 0:
        with contextlib.suppress(ValueError):
            return json.loads(output)
    return {"student": student, "entry": os.path.basename(entry), "graded": False,
            "seconds": round(time.monotonic() - start, 3),
            "message": f"its grading process exited with code {process.returncode}: "
                       f"{errors.decode(errors='replace').strip()[-1000:]}"}


def grade_one(student, entry, table, only=None, timeout=30.0):
    """Grade one submission on a private copy of it.

    Parameters
    ----------
    student : str
        The student's id.
    entry : str
        The submission: a folder or a .zip.
    table : dict
        check id -> points of every check to run (the chosen ones, no speed check).
    only, timeout
        As for `grade_class`.

    Returns
    -------
    dict
        {"student", "entry", "graded": True, "found_in": the modules' folder relative to the submission's top ("."
        for the top, None when there is none), "notes": [str], "checks": [report entries with "points" and
        "earned"], "summary": {status: count}, "score", "max_score", "modules": {module: {"score", "max_score"}},
        "seconds"}.
    """
    start = time.monotonic()
    record = {"student": student, "entry": os.path.basename(entry), "graded": True, "found_in": None, "notes": []}
    work = tempfile.mkdtemp(prefix="grading_")
    try:
        copy = os.path.join(work, student)
        try:
            record["notes"] += submissions_module.unpacked(entry, copy)
            record["found_in"] = submissions_module.modules_folder(copy)
            unreadable = None
        except Exception as error:  # a broken zip (zipfile.BadZipFile, ...), an unreadable file
            unreadable = f"the submission could not be read: {type(error).__name__}: {error}"
        ids = list(table)
        if record["found_in"] is None:
            record["notes"].append(unreadable or _nothing_found(copy))
            report = _all_missing(ids, record["notes"][-1])
        else:
            limits = dict(LIMITS, cpu_seconds=CPU_SECONDS_PER_CHECK * (len(ids) + 2))
            report = run(os.path.join(copy, record["found_in"]), only=only, select=ids, timeout=timeout,
                         limits=limits)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    grade = points_module.score(report["checks"], table)
    return dict(record, checks=report["checks"], summary=report["summary"], **grade,
                seconds=round(time.monotonic() - start, 3))


def _nothing_found(copy):
    """The note of a submission without any module of the assignment."""
    found = submissions_module.notebooks(copy) if os.path.isdir(copy) else []
    modules = ", ".join(f"{module}.py" for module in MODULES)
    extra = f"; it holds the notebooks {', '.join(found[:3])}: hand in the modules as .py files" if found else ""
    return f"no module of the assignment ({modules}) in the submission{extra}"


def _all_missing(ids, message):
    """The report of a run where every check of `ids` is missing."""
    registry = load_checks()
    checks = [{"id": check_id, "module": registry[check_id].module, "status": "missing", "message": message,
               "hint": None, "hint_key": None, "seconds": 0.0} for check_id in ids]
    return {"checks": checks, "summary": {status: len(checks) * (status == "missing") for status in STATUSES}}


def add_arguments(parser):
    """Add the options of grading (--grade, --out, --jobs, --points, --overwrite, --gradescope-bundle) to the
    command line's `parser`."""
    group = parser.add_argument_group("grading (docs/grading.md)")
    group.add_argument("--grade", metavar="SUBMISSIONS", help="grade a class: SUBMISSIONS holds one folder or .zip "
                                                              "per student (instead of PATH)")
    group.add_argument("--out", metavar="DIR", help="with --grade: the new folder for grades.csv, feedback/, "
                                                   "report.json and summary.txt")
    group.add_argument("--jobs", type=int_at_least(1), metavar="N",
                       help=f"with --grade: submissions graded at once (default: the cores, {cores()})")
    group.add_argument("--points", metavar="FILE", help="points per check id or id prefix (.json or .toml; "
                                                       "'default': the default table); with PATH: print the score")
    group.add_argument("--overwrite", action="store_true", help="replace an earlier --out gradebook or bundle")
    group.add_argument("--autolab", action="store_true", help="with PATH and --points: end with Autolab's score "
                                                              "line, {\"scores\": {module: points}, ...}")
    group.add_argument("--gradescope-bundle", metavar="ZIP", help="write a Gradescope autograder zip with these "
                                                                 "--points, --timeout and --only, and exit")


def command(args, parser):
    """Run --grade or --gradescope-bundle as the parsed `args` ask; return the exit code (0: every submission got a
    grade, 1: some could not be graded, 130: interrupted) or raise SystemExit(2) for a bad argument, nothing run."""
    from selfcheck import gradescope  # it imports this module
    if args.path is not None:
        parser.error(f"give either PATH or {'--grade' if args.grade else '--gradescope-bundle'}, not both")
    if args.autolab:
        parser.error("--autolab goes with PATH (one learner's score line), not with --grade or --gradescope-bundle")
    points_file = None if args.points in (None, "default") else args.points
    try:
        if args.gradescope_bundle is not None:
            gradescope.build_bundle(args.gradescope_bundle, points_file, args.timeout, args.only, args.overwrite)
            print(f"Wrote the Gradescope autograder {args.gradescope_bundle}: upload it as the assignment's "
                  f"autograder (Configure Autograder, zip file upload)")
            return 0
        plan = prepare(args.grade, args.out, args.jobs, points_file, args.timeout, args.only, args.overwrite)
    except (TypeError, ValueError, OSError) as error:
        parser.error(str(error))
    try:
        report, _ = execute(plan)
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C): the running submissions were stopped; nothing written", file=sys.stderr)
        return 130
    return int(not all(record["graded"] for record in report["students"]))


def main(argv):
    """`python -m selfcheck.grading SPEC`: grade one submission, print its record as JSON; 130 after Ctrl-C."""
    spec = json.loads(argv[1])
    try:
        record = grade_one(spec["student"], spec["entry"], spec["points"], spec["only"], spec["timeout"])
    except (KeyboardInterrupt, RunInterrupted):
        return 130
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
