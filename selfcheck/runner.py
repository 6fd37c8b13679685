"""The self-check's runner: run the named checks of the assignment on anyone's layers.py, model.py, optim.py, ...

    python check_solution.py PATH [--only MODULE ...] [--json FILE] [--timeout SECONDS] [--strict] [--list]
    python -m selfcheck PATH ...                                                           (the same)

PATH is a folder holding some or all of the assignment's modules (base.MODULES), written against the assignment's
contract. This process never imports them: a worker process (selfcheck/worker.py) imports them from PATH only, in a
fresh temporary working folder, and runs the checks one after another; their output goes to a pipe that is counted,
never shown. Each check has a time limit: a check (or an import) that takes longer is reported as `timeout` and a
fresh worker goes on with the rest; a worker that dies (os._exit, a crash) costs only the check it was running.
Speed checks are timed on the learner's modules and on ours (this repository's), and reported as `info` with the
ratio.

The report groups the checks by module, each printed as soon as it and the checks before it are done, then prints
the summary line; the exit code is 0 when no check failed, raised an error or timed out (with --strict: nor is
missing or not implemented), 1 otherwise, 2 for a bad argument (nothing run), 130 after Ctrl-C (the partial report
printed and written). `run` is the same as a function.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from atomic import atomic_write
from selfcheck import points
from selfcheck.base import HINTS, MODULES, STATUSES
from selfcheck.report import TablePrinter, ending, format_report, id_width, summary_line  # noqa: F401  (public here)
from selfcheck.worker import REPO, load_checks, modules_of
from validation import OneLineParser, check_number, check_output_file, parse_argument

PACKAGE = os.path.dirname(os.path.abspath(__file__))

#: Seconds a worker may take to start (import numpy and the checks) before the run is abandoned as broken.
STARTUP_SECONDS = 120.0

#: Output of a check above this many bytes is mentioned in its message (never shown).
PRINTED_NOTE_BYTES = 10_000

#: A learner's speed check this many times slower than ours gets the hint "slow_loops".
SLOW_RATIO = 10.0

#: Every check runs on one BLAS thread, the learner's code and ours alike: on a shared machine the threads of a BLAS
#: pool wait for each other and make the speed checks' ratios noise. Set before the worker imports numpy, this needs
#: no package beyond numpy (threadpoolctl would).
ONE_BLAS_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                          "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}

_FAILING = ("fail", "error", "timeout")
_STRICTLY_FAILING = ("missing", "not implemented")

#: The checks of the model whose failure a wrong layer explains: their message names the layer checks that fail.
_LAYER_DEPENDENT = ("ConvNet.compute_loss_and_gradients.",)


def run(path, only=None, select=None, timeout=30.0, on_entry=None, limits=None):
    """Run the checks on the learner's modules in the folder `path` and return the report.

    Parameters
    ----------
    path : str or os.PathLike
        A folder holding at least one of the assignment's modules (layers.py, model.py, ...).
    only : sequence of str or None
        Module names (base.MODULES) whose checks run; None: every module's.
    select : sequence of str or None
        Check id prefixes, e.g. ["MaxPoolingLayer."]: only the checks whose id starts with one of them run. A
        speed check (timed on yours and on ours) is run only when a prefix names its method too, e.g.
        "MaxPoolingLayer.speed", or when `select` is None.
    timeout : float
        Seconds each check (and each module's import) may take.
    on_entry : callable or None
        Called with each check's entry of the report as soon as it and every check before it are done.
    limits : dict or None
        The workers' resource limits (worker.limit_resources), e.g. grading.LIMITS; None: none.

    Returns
    -------
    dict
        {"path": absolute folder, "checks": [{"id", "module", "status", "message", "hint", "hint_key",
        "seconds"}, ...] grouped by module in base.MODULES order, "summary": {status: count for every
        status of base.STATUSES}}.

    Raises
    ------
    RunInterrupted
        On Ctrl-C (KeyboardInterrupt), once the worker is stopped: its `report` is the partial report, with
        "incomplete": True and "not_run": [ids of the checks without a result].
    """
    path = check_folder(path, "path")
    only = _check_names(only, "only", MODULES)
    select = _check_names(select, "select")
    timeout = check_number(timeout, "timeout", minimum=0, strict_minimum=True)
    if on_entry is not None and not callable(on_entry):
        raise TypeError(f"`on_entry` must be callable or None, got {type(on_entry).__name__}")
    progress = _Progress(path, choose(load_checks(), only, select), on_entry)
    try:
        present = [check for check in progress.chosen if not _absent(check, path, progress.results)]
        # Ours are timed first, while nothing else runs: the learner's speed checks are then final at once.
        progress.ours = _time_ours([check for check in present if check.speed], timeout)
        progress.show()
        _run_checks(path, present, timeout, progress.results, limits)
    except KeyboardInterrupt:
        raise RunInterrupted(progress.report()) from None
    return progress.report()


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped `run`: `report` is what it found until then, marked incomplete, with the checks not run."""

    def __init__(self, report):
        super().__init__("the checks were interrupted")
        self.report = report


class _Results(dict):
    """Check id -> result, telling `listener` of each result added."""

    def __init__(self, listener):
        super().__init__()
        self.listener = listener

    def __setitem__(self, check_id, result):
        super().__setitem__(check_id, result)
        self.listener()


class _Progress:
    """The results of a run as they come, handed on as report entries in the report's order once final."""

    def __init__(self, path, chosen, on_entry):
        self.path = path
        self.chosen = chosen
        self.on_entry = on_entry
        self.results = _Results(self.show)
        self.ours = None  # check id -> our result of each speed check, once timed
        self.shown = 0

    def show(self):
        """Hand on the entries of the checks done, up to the first one not done."""
        while self.ours is not None and self.shown < len(self.chosen) and \
                self.chosen[self.shown].id in self.results:
            check = self.chosen[self.shown]
            self.shown += 1
            if self.on_entry is not None:
                self.on_entry(self._entry(check))

    def report(self):
        """The report of the checks done; marked incomplete, with the ids of the rest, when some are not."""
        checks = [self._entry(check) for check in self.chosen if check.id in self.results]
        report = {"path": self.path, "checks": checks,
                  "summary": {status: sum(entry["status"] == status for entry in checks) for status in STATUSES}}
        if len(checks) < len(self.chosen):
            report.update(incomplete=True, not_run=[check.id for check in self.chosen if check.id not in self.results])
        return report

    def _entry(self, check):
        """The report's entry of `check`, which is done; a model's failure names the failing layer checks."""
        result = _final(check, self.results[check.id], self.ours)
        if result["status"] == "fail" and check.id.startswith(_LAYER_DEPENDENT):
            result = dict(result, message=result["message"] + self._layer_failures())
        return _entry(check, result)

    def _layer_failures(self):
        """"; layers.py fails ID, ...: ..." for a model's failure ("" when every layer check run passed)."""
        layer_checks = [check.id for check in self.chosen if check.module == "layers"]
        if not layer_checks:
            return "; the checks of layers.py were not run: run them too, a wrong layer makes the model wrong"
        failing = [check_id for check_id in layer_checks if check_id in self.results and
                   self.results[check_id]["status"] in _FAILING]
        return f"; layers.py fails {', '.join(failing)}: a wrong layer makes the model wrong, fix it first" \
            if failing else ""


def check_folder(path, name):
    """Return `path` as an absolute real path after checking it is a folder holding one of the assignment's modules."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a str or os.PathLike, got {type(path).__name__}")
    path = os.path.realpath(os.fspath(path))
    if not os.path.exists(path):
        raise FileNotFoundError(f"`{name}` must be an existing folder, got {path!r}, which does not exist")
    if not os.path.isdir(path):
        raise NotADirectoryError(f"`{name}` must be a folder holding the assignment's modules, got the file {path!r}")
    if not any(_has_module(path, module) for module in MODULES):
        raise ValueError(f"`{name}` must be a folder holding at least one of the assignment's modules "
                         f"({', '.join(module + '.py' for module in MODULES)}), got {path!r}, which holds none")
    return path


def exit_code(report, strict=False):
    """0 when no check of the report failed, raised an error or timed out (nor, when `strict`, is missing or not
    implemented); 1 otherwise."""
    return int(any(report["summary"][status] for status in _FAILING + (_STRICTLY_FAILING if strict else ())))


def _check_names(names, name, allowed=None):
    """`names` as a list of str (None stays None); each one of `allowed` when given."""
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(item, str) for item in names):
        raise TypeError(f"`{name}` must be a list of str or None, got {names!r}")
    names = list(names)
    bad = [item for item in names if allowed is not None and item not in allowed]
    if bad:
        raise ValueError(f"`{name}` must hold module names of {', '.join(allowed)}, got {bad[0]!r}")
    return names


def choose(registry, only, select):
    """The checks to run, grouped by module in MODULES order, in registration order within a module."""
    checks = [check for check in registry.values()
              if (only is None or check.module in only) and (select is None or _selected(check, select))]
    return sorted(checks, key=lambda check: MODULES.index(check.module))


def _selected(check, select):
    """Whether a prefix of `select` selects `check`; a speed check's prefix must reach its method ("Name.speed")."""
    shortest = len(check.id.rsplit(".", 1)[0]) if check.speed else 0
    return any(check.id.startswith(prefix) and len(prefix) >= shortest for prefix in select)


def _has_module(path, module):
    return os.path.isfile(os.path.join(path, f"{module}.py")) or \
        os.path.isfile(os.path.join(path, module, "__init__.py"))


def _absent(check, path, results):
    """Record `missing` for `check` when a module it needs is not in `path`; say whether it did."""
    absent = [module for module in modules_of(check.needs) if not _has_module(path, module)]
    if absent:
        results[check.id] = _result("missing", f"no {absent[0]}.py in {path}")
    return bool(absent)


def _result(status, message="", hint_key=None, seconds=0.0):
    return {"status": status, "message": message, "hint_key": hint_key, "seconds": seconds, "timing": None}


def _entry(check, result):
    """The report's entry for one check."""
    hint_key = result["hint_key"]
    return {"id": check.id, "module": check.module, "status": result["status"], "message": result["message"],
            "hint": HINTS.get(hint_key), "hint_key": hint_key, "seconds": round(result["seconds"], 3)}


def _run_checks(path, checks, timeout, results=None, limits=None):
    """Results (id -> result dict) of `checks` run on `path` by as many workers as hangs and crashes require (each
    under the resource `limits`), added to `results` when given."""
    results, broken = {} if results is None else results, {}
    pending = list(checks)
    while True:
        for check in pending:
            failed_import = next((broken[module] for module in modules_of(check.needs) if module in broken), None)
            if failed_import is not None:
                results[check.id] = failed_import
        pending = [check for check in pending if check.id not in results]
        if not pending:
            return results
        progress = len(results) + len(broken)
        _Worker(path, [check.id for check in pending], timeout, limits).follow(results, broken)
        if len(results) + len(broken) == progress:
            raise RuntimeError(f"the check worker stopped without running a check on {path}")


class _Worker:
    """One worker process running checks on a folder, followed until it is done, hangs or dies."""

    def __init__(self, path, ids, timeout, limits=None):
        self.timeout = timeout
        self.printed = 0
        self.tail = b""
        self.folder = tempfile.mkdtemp(prefix="check_solution_")
        read_end, write_end = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "selfcheck.worker", json.dumps({"path": path, "ids": ids, "limits": limits}),
                 str(write_end)],
                pass_fds=(write_end,), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                cwd=self.folder, env=worker_environment(), start_new_session=True)
        except BaseException:
            os.close(read_end)
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        finally:
            os.close(write_end)
        self.events = read_end

    def follow(self, results, broken):
        """Read the worker's events into `results` (id -> result) and `broken` (module -> result of its import
        that hung or killed the worker) until it is done, exceeds a time limit or dies; then end it."""
        try:
            self._follow(results, broken)
        finally:
            self._end()

    def _follow(self, results, broken):
        selector = selectors.DefaultSelector()
        selector.register(self.events, selectors.EVENT_READ, "events")
        selector.register(self.process.stdout, selectors.EVENT_READ, "output")
        self.activity, self.deadline = ("startup", None), time.monotonic() + max(STARTUP_SECONDS, self.timeout)
        self.pending, self.printed_before = b"", 0
        while True:
            ended = self.process.poll() is not None
            ready = selector.select(0 if ended else min(0.5, max(self.deadline - time.monotonic(), 0)))
            # Events first: the worker writes an event only once all its earlier output has been read, so output
            # read after an event was printed after it.
            for key, _ in sorted(ready, key=lambda item: item[0].data != "events"):
                data = os.read(key.fd, 1 << 16)
                if not data:
                    selector.unregister(key.fileobj)
                elif key.data == "output":
                    self.printed += len(data)
                    self.tail = (self.tail + data)[-2000:]
                elif self._read_events(data, results):
                    return
            if ended and not selector.select(0):
                self._record(self._death(), "error", results, broken)
                return
            if time.monotonic() > self.deadline:
                self._record("did not finish in {:g} s".format(self.timeout), "timeout", results, broken)
                return

    def _read_events(self, data, results):
        """Follow the events of `data` (bytes from the events pipe): record results, track the current activity and
        its deadline; say whether the worker is done."""
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        for line in lines:
            event = json.loads(line)
            kind = event.pop("event")
            if kind == "done":
                return True
            if kind == "result":
                results[event.pop("id")] = _with_printed(event, self.printed - self.printed_before)
                self.activity = ("idle", None)
            else:
                self.activity = ("import", event["module"]) if kind == "import" else ("check", event["id"])
                self.printed_before = self.printed
            self.deadline = time.monotonic() + self.timeout
        return False

    def _record(self, what, status, results, broken):
        """Record that the worker hung or died during its current activity."""
        kind, name = self.activity
        if kind == "check":
            message = what if status == "timeout" else f"the worker process running it {what}"
            results[name] = _result(status, message, seconds=self.timeout if status == "timeout" else 0.0)
        elif kind == "import":
            message = f"importing {name}.py {what}" if status == "timeout" else \
                f"the worker process importing {name}.py {what}"
            broken[name] = _result(status, message)
        elif kind == "startup":
            output = self.tail.decode(errors="replace").strip()
            raise RuntimeError(f"the check worker {what} while starting; its last output: {output[-1000:]}")

    def _death(self):
        code = self.process.wait()
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"was killed by signal {name} (a crash, e.g. in C code)"
        return f"exited with code {code} (os._exit, or a crash)"

    def _end(self):
        """Kill the worker's whole process group (the learner may have started processes) and clean up."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        self.process.stdout.close()
        os.close(self.events)
        shutil.rmtree(self.folder, ignore_errors=True)


def worker_environment():
    """The worker's environment: this repository first on PYTHONPATH, so that `-m selfcheck.worker` finds the
    package from the empty working folder (the worker takes it off sys.path before importing a learner's module),
    one BLAS thread, no bytecode written."""
    python_path = os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=python_path, PYTHONDONTWRITEBYTECODE="1", **ONE_BLAS_THREAD)


def _with_printed(event, printed):
    """The worker's result event as a result, noting a large output of the learner's code."""
    if printed > PRINTED_NOTE_BYTES:
        note = f"printed {_size(printed)} (not shown)"
        event["message"] = f"{event['message']}; {note}" if event["message"] else note
    return event


def _size(count):
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _time_ours(checks, timeout):
    """Our results (id -> result) of the speed `checks`, run on this repository's modules."""
    if not checks:
        return {}
    try:
        return _run_checks(REPO, checks, timeout)
    except (RuntimeError, OSError) as error:
        return {check.id: _result("error", str(error)) for check in checks}


def _final(check, result, ours):
    """The result of `check` for the report: a learner's timing becomes `info`, comparing it with `ours`."""
    if result["status"] != "timing":
        return result
    yours, what = result["timing"]
    mine = ours[check.id]
    if mine["status"] == "timing":
        ratio = yours / max(mine["timing"][0], 1e-9)
        message = f"yours {_duration(yours)}, ours {_duration(mine['timing'][0])}: {_ratio(ratio)} ours " \
                  f"(what: {what})"
        hint = "slow_loops" if ratio > SLOW_RATIO else None
    else:
        message = f"yours {_duration(yours)} (what: {what}); ours could not be timed: {mine['status']}: " \
                  f"{mine['message']}"
        hint = None
    return dict(result, status="info", message=message, hint_key=hint)


def _duration(seconds):
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _ratio(ratio):
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def main(argv=None):
    """Command line entry, see `--help`; returns the exit code (0, 1, 130) or raises SystemExit(2) for a bad
    argument."""
    from selfcheck import grading  # --grade and --gradescope-bundle; it builds on this module
    parser = _parser()
    args = parser.parse_args(argv)
    if args.path is None and args.only and args.only[-1] not in MODULES:
        args.path = args.only.pop()  # `--only layers PATH`: the list of modules ends where PATH begins
    for name in args.only or ():
        if name not in MODULES:
            parser.error(f"argument --only: invalid choice: {name!r} (choose from {', '.join(MODULES)})")
    if args.list:
        _print_list()
        return 0
    if args.grade is not None or args.gradescope_bundle is not None:
        return grading.command(args, parser)
    if args.path is None:
        parser.error("the argument PATH is required: the folder holding your layers.py, model.py, ...")
    if args.out is not None or args.jobs is not None or args.overwrite:
        parser.error("--out, --jobs and --overwrite go with --grade (--overwrite also with --gradescope-bundle)")
    if args.autolab and args.points is None:
        parser.error("--autolab needs --points: Autolab's score line holds the points earned")
    try:
        path = check_folder(args.path, "PATH")
        if args.json is not None:
            _check_json_target(args.json)
        table = None if args.points is None else points.points_table(args.points, load_checks())
    except (TypeError, ValueError, OSError) as error:
        parser.error(str(error))
    started = datetime.datetime.now(datetime.timezone.utc).astimezone()
    start = time.monotonic()
    width = shutil.get_terminal_size((120, 24)).columns
    printer = TablePrinter(id_width(check.id for check in choose(load_checks(), args.only, None)), width,
                           use_colour(sys.stdout))
    shown = set()

    def show(entry):
        shown.add(entry["id"])
        _print_lines(printer.add(entry))
    _print_lines([f"Checked {path}"])
    try:
        report = run(path, only=args.only, timeout=args.timeout, on_entry=show)
    except RunInterrupted as stop:
        report = stop.report
    for entry in report["checks"]:
        if entry["id"] not in shown:  # done after the first check an interrupted run did not finish
            _print_lines(printer.add(entry))
    seconds = round(time.monotonic() - start, 3)
    grade = None if table is None else points.score(report["checks"], table)
    if args.json is not None:
        with atomic_write(args.json) as file:
            file.write(json.dumps(_with_run_facts(report, started, seconds, grade), indent=1).encode())
    _print_lines(printer.end() + ending(report, seconds, width) + ([points.score_line(grade)] if grade else []))
    if args.autolab:  # Autolab reads the last line: {"scores": {problem: points}, "scoreboard": [...]}
        print(json.dumps({"scores": {module: total["score"] for module, total in grade["modules"].items()},
                          "scoreboard": [grade["score"]]}))
    return 130 if report.get("incomplete") else exit_code(report, args.strict)


def _print_lines(lines):
    if lines:
        print("\n".join(lines), flush=True)


def _with_run_facts(report, started, seconds, grade=None):
    """The report as the JSON file holds it: with whether it is complete, the checks not run, what checked and
    when, and the score under --points."""
    extra = {} if grade is None else {"score": grade["score"], "max_score": grade["max_score"],
                                      "modules": grade["modules"], "rule": points.RULE}
    return dict(report, **extra, incomplete=report.get("incomplete", False), not_run=report.get("not_run", []),
                checker_version=checker_version(), numpy_version=np.__version__,
                python_version=platform.python_version(), started_at=started.isoformat(timespec="seconds"),
                seconds=seconds)


def checker_version():
    """"sha256:" and 12 hex digits of the checker's files (every .py file of the package): the same version, the
    same checks."""
    digest = hashlib.sha256()
    files = sorted(os.path.relpath(os.path.join(folder, name), PACKAGE) for folder, _, names in os.walk(PACKAGE)
                   for name in names if name.endswith(".py"))
    for name in files:
        with open(os.path.join(PACKAGE, name), "rb") as file:
            digest.update(name.encode() + b"\0" + file.read())
    return f"sha256:{digest.hexdigest()[:12]}"


def use_colour(stream):
    """Whether to colour what goes to `stream`: only a terminal, and only while NO_COLOR is unset."""
    return stream.isatty() and "NO_COLOR" not in os.environ


def _check_json_target(path):
    """Refuse a --json file that cannot be written, or that exists and is not an earlier report of ours."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"`--json` must name a file, got the directory {path!r}; add a file name, e.g. "
                                f"{os.path.join(path, 'report.json')!r}")
    check_output_file(path, "--json")
    if not os.path.lexists(path):
        return
    try:
        with open(path, encoding="utf-8") as file:
            earlier = json.load(file)
    except (OSError, UnicodeDecodeError, ValueError):
        earlier = None
    if not (isinstance(earlier, dict) and "checks" in earlier and "summary" in earlier):
        raise FileExistsError(f"`--json` {path!r} exists and is not an earlier check_solution report: refusing to "
                              f"replace it; choose another file name")


def _print_list():
    registry = load_checks()
    checks = choose(registry, None, None)
    id_width = max((len(check.id) for check in checks), default=0)
    for check in checks:
        print(f"{check.id.ljust(id_width)}  {check.module.ljust(14)}  {check.description}")


def _parser():
    parser = OneLineParser(prog="check_solution.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                     description="Run the assignment's checks on your own layers.py, model.py, optim.py, trainer.py, "
                                 "metrics.py, dataset.py and gradient_check.py (any of them) and print a report.",
                     epilog="Exit codes: 0 no check failed, raised an error or timed out (with --strict: nor is "
                            "missing or not implemented); 1 some did; 2 bad arguments (nothing run); 130 "
                            "interrupted by Ctrl-C (the partial report printed and written).")
    parser.add_argument("path", nargs="?", metavar="PATH", help="the folder holding your modules")
    parser.add_argument("--only", nargs="+", action="extend", metavar="MODULE",
                        help=f"check only these modules, of: {', '.join(MODULES)} (PATH may come after them)")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE (replaces only an "
                                                      "earlier report)")
    parser.add_argument("--timeout", type=_positive_seconds, default=30.0, metavar="SECONDS",
                        help="time limit of each check and of each module's import")
    parser.add_argument("--strict", action="store_true", help="count missing and not implemented checks as "
                                                                 "failures (exit code 1)")
    parser.add_argument("--list", action="store_true", help="list every check (id, module, description) and exit")
    from selfcheck import grading  # it builds on this module
    grading.add_arguments(parser)
    return parser


def _positive_seconds(text):
    return parse_argument(text, float, "a finite number of seconds > 0", lambda value: 0 < value < float("inf"))


if __name__ == "__main__":
    sys.exit(main())
