"""The worker process of the self-check: runs checks on a learner's modules, reporting on a private pipe.

The runner (selfcheck/runner.py) starts it as `python -m selfcheck.worker SPEC FD` in an empty temporary folder, with
this repository first on PYTHONPATH (the only way it finds the package), where SPEC is JSON {"path": folder, "ids":
[check ids]} and FD a pipe's write end. The worker loads the check modules (ours, `selfcheck.checks.*`), then removes
this repository, the working folder and the PYTHONPATH entries from sys.path and puts the learner's folder first, so
that `import layers` can only find the learner's file. It runs the checks one after another, importing each learner
module when a check first needs it, and writes one JSON line per event to FD:

- {"event": "import", "module": "layers"} before importing a learner module;
- {"event": "start", "id": ...} before running a check;
- {"event": "result", "id", "status", "message", "hint_key", "seconds", "timing"} after it ("timing": [seconds,
  what] when a speed check returned `Timing`, its status then "timing");
- {"event": "done"} at the end.

The learner's output (fds 1 and 2, C code included) goes wherever the parent pointed them; the parent enforces the
time limits and restarts a worker that hung or died. Nothing here is for learners to call.

For testing the runner only: the environment variable CHECK_SOLUTION_EXTRA_CHECKS may name Python files of extra
checks (separated by os.pathsep); `load_checks` adds their checks to the registry it returns, without adding them to
`base.REGISTRY`.
"""
import contextlib
import fcntl
import importlib
import importlib.util
import json
import os
import random
import re
import struct
import sys
import termios
import time
import traceback
import types
import zlib

import numpy as np

from selfcheck import base
from selfcheck.base import CheckFailed, Info, Timing, Unimplemented

#: The modules whose checks register themselves in base.REGISTRY when imported (pooling after layers: the report
#: lists the pooling checks after the other layers').
CHECK_MODULES = tuple(f"selfcheck.checks.{name}" for name in ("layers", "pooling", "model", "optim", "trainer",
                                                              "metrics", "dataset", "gradient_check"))

#: Testing only: files of extra checks (os.pathsep-separated) that `load_checks` adds to the registry it returns.
EXTRA_CHECKS_VARIABLE = "CHECK_SOLUTION_EXTRA_CHECKS"

#: This repository: the folder holding the package and our own modules of the assignment (the speed checks' "ours").
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_MESSAGE_LIMIT = 400

#: The names numpy 1.24 and 2.0 removed, which published solutions of the assignment still use: put back for a
#: second run of a check that stopped on one, so the report also says what the rest of the learner's code does.
REMOVED_NUMPY_ALIASES = {
    # numpy 1.24
    "float": float, "int": int, "bool": bool, "object": object, "complex": complex, "str": str,
    # numpy 2.0 and later
    "product": np.prod, "cumproduct": np.cumprod, "sometrue": np.any, "alltrue": np.all, "float_": np.float64,
    "complex_": np.complex128, "NaN": np.nan, "Inf": np.inf, "infty": np.inf, "PINF": np.inf, "NINF": -np.inf,
    "round_": np.round, "string_": np.bytes_, "unicode_": np.str_, "trapz": np.trapezoid, "in1d": np.isin,
    "asfarray": lambda a, dtype=np.float64: np.asarray(a, dtype=dtype),
}
NUMPY_REMOVAL_HINTS = ("np_float_removed", "np_reshape_newshape")
_REMOVED_ALIAS = re.compile(r"numpy.* has no attribute '(" + "|".join(REMOVED_NUMPY_ALIASES) + r")'|`np\.("
                            + "|".join(REMOVED_NUMPY_ALIASES) + r")` was removed")


def load_checks():
    """Import the check modules and return every registered check, the extra test checks included.

    Returns
    -------
    dict
        check id -> base.Check, in registration order.
    """
    for name in CHECK_MODULES:
        importlib.import_module(name)
    registry = dict(base.REGISTRY)
    for file in filter(None, os.environ.get(EXTRA_CHECKS_VARIABLE, "").split(os.pathsep)):
        extra = _load_extra_checks(file)
        clash = sorted(set(extra) & set(registry))
        if clash:
            raise ValueError(f"{EXTRA_CHECKS_VARIABLE}: {file} registers ids that exist already: {clash}")
        registry.update(extra)
    return registry


def _load_extra_checks(file):
    """The checks that the Python file `file` registers, kept out of base.REGISTRY."""
    saved = base.REGISTRY
    base.REGISTRY = {}
    try:
        spec = importlib.util.spec_from_file_location(f"_extra_checks_{abs(hash(file))}", file)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        return base.REGISTRY
    finally:
        base.REGISTRY = saved


def main(argv):
    """Run the checks of SPEC (argv[1]) on the learner's folder, reporting on the pipe argv[2]; never returns."""
    spec = json.loads(argv[1])
    channel = os.fdopen(int(argv[2]), "w")
    registry = load_checks()
    path = os.path.realpath(spec["path"])
    limit_resources(spec.get("limits"))
    _isolate(path)
    session = _Session(path, channel)
    for check_id in spec["ids"]:
        session.run(registry[check_id])
    session.emit(event="done")
    # A learner's thread or atexit handler must not keep the worker alive or print after the end.
    os._exit(0)


def limit_resources(limits):
    """Set this process's resource limits (Linux, macOS) before any learner code runs; inherited by its children.

    Parameters
    ----------
    limits : dict or None
        {"cpu_seconds", "memory_bytes" (address space), "file_bytes" (largest file written), "processes" (more
        than the user runs now: Linux counts every process and thread of the user)}, each optional; None: none.
    """
    if not limits:
        return
    import resource  # POSIX only: grading on Windows runs without limits
    wanted = {resource.RLIMIT_CPU: limits.get("cpu_seconds"), resource.RLIMIT_AS: limits.get("memory_bytes"),
              resource.RLIMIT_FSIZE: limits.get("file_bytes"), resource.RLIMIT_CORE: 0}
    if limits.get("processes") is not None and hasattr(resource, "RLIMIT_NPROC"):
        wanted[resource.RLIMIT_NPROC] = _user_processes() + limits["processes"]
    for kind, value in wanted.items():
        if value is not None:
            _, hard = resource.getrlimit(kind)
            value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
            resource.setrlimit(kind, (value, hard))


def _user_processes():
    """How many processes and threads this user runs now (what RLIMIT_NPROC counts on Linux)."""
    try:
        tasks = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return 0
    count = 0
    for entry in tasks:
        try:
            if os.stat(f"/proc/{entry}").st_uid == os.getuid():
                count += len(os.listdir(f"/proc/{entry}/task"))
        except OSError:
            continue  # ended meanwhile
    return count


def _isolate(path):
    """Make `import NAME` find the learner's modules in `path` only: never this repository's."""
    sys.dont_write_bytecode = True  # leave no __pycache__ in the learner's folder
    ours = {REPO, os.getcwd(), *(os.path.abspath(entry) for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                  if entry)}
    sys.path[:] = [entry for entry in sys.path if entry and os.path.abspath(entry) not in ours]
    sys.path.insert(0, path)
    # Published solutions import helpers from the assignments beside theirs (`from assignment1.x import ...`, run
    # from a notebook in the folder): the parent folder is searched last, unless it holds modules of the
    # assignment, which must never stand in for missing ones.
    parent = os.path.dirname(path)
    if parent != REPO and not any(os.path.exists(os.path.join(parent, f"{name}.py")) for name in base.MODULES):
        sys.path.append(parent)
    # Our modules of the repository's root (never the package's, which stay loaded) are forgotten.
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        from_repo = file is not None and os.path.dirname(os.path.abspath(file)) == REPO
        if name in base.MODULES or from_repo:
            del sys.modules[name]
    importlib.invalidate_caches()


def _one_thread(check):
    """Speed checks time ours on one of this package's threads too (BLAS is on one through the environment), so that
    on a shared machine threads waiting for each other do not make the ratio noise; other checks run as they are."""
    package = sys.modules.get("threads")  # this repository's thread policy, once our layers imported it
    file = getattr(package, "__file__", None)
    if check.speed and file is not None and os.path.dirname(os.path.abspath(file)) == REPO:
        return package.limit(1)
    return contextlib.nullcontext()


class _Session:
    """The learner's modules imported so far, and the running of checks on them."""

    def __init__(self, path, channel):
        self.path = path
        self.channel = channel
        self.imports = {}  # module name -> (module or None, outcome of a failed import or None)

    def emit(self, **event):
        """Write one event line once the parent has read whatever the learner printed so far: the parent's count of
        output bytes between a check's "start" and "result" events is then exactly the check's output."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass  # the learner replaced or closed it: nothing of ours to flush
        _wait_until_read(1)
        self.channel.write(json.dumps(event) + "\n")
        self.channel.flush()

    def run(self, check):
        """Run one check and emit its result."""
        status, message, hint, seconds, timing = *self._needs(check.needs), 0.0, None
        if status is None:
            modules = types.SimpleNamespace(**{name: self.imports[name][0] for name in modules_of(check.needs)})
            self.emit(event="start", id=check.id)
            _seed_global_generators(check.id)
            start = time.perf_counter()
            with _one_thread(check):
                status, message, hint, timing = _outcome(check.function, modules, self.path)
            seconds = time.perf_counter() - start
        self.emit(event="result", id=check.id, status=status, message=message, hint_key=hint, seconds=seconds,
                  timing=timing)

    def _needs(self, needs):
        """(None, None, None) when every needed module imports and has the needed names, else the outcome."""
        for need in needs:
            module_name, _, attributes = need.partition(".")
            module, failure = self._import(module_name)
            if failure is not None:
                return failure
            target = module
            for attribute in filter(None, attributes.split(".")):
                try:
                    found = hasattr(target, attribute)
                except BaseException as error:  # a learner's property or module __getattr__ raised
                    status, message, hint, _ = _exception_outcome(error, self.path)
                    return status, f"looking up {need}: {message}", hint
                if not found:
                    return "missing", f"{module_name}.py has no {attributes}", None
                target = getattr(target, attribute)
        return None, None, None

    def _import(self, name):
        """(module, None) or (None, failed import's (status, message, hint)); each module is imported once."""
        if name not in self.imports:
            self.emit(event="import", module=name)
            try:
                self.imports[name] = importlib.import_module(name), None
            except BaseException as error:
                self.imports[name] = None, self._import_failure(name, error)
        return self.imports[name]


    def _import_failure(self, name, error):
        """(status, message, hint) of a failed import of the learner's module `name`."""
        status, message, hint, _ = _exception_outcome(error, self.path)
        absent = error.name.partition(".")[0] if isinstance(error, ModuleNotFoundError) and error.name else None
        if absent and re.fullmatch(r"assignment\d+", absent):
            return status, (f"importing {name}.py failed: {message}; your modules import the package {absent}: keep "
                            f"the course's layout, a folder named {absent} beside {os.path.basename(self.path)} (or "
                            f"this folder itself named so), or import the module directly"), hint
        if absent:
            # It needs a module that is neither in PATH nor installed: as missing as that module, for every check of
            # every module that imports it, with one message (the report shows it once per module).
            installed = "" if absent in base.MODULES else f" (nor an installed module {absent})"
            return "missing", f"{_importer(error, self.path, name)} imports {error.name}, and there is no " \
                              f"{absent}.py in {self.path}{installed}{_where(error, self.path)}", None
        return status, f"importing {name}.py failed: {message}", hint


def _seed_global_generators(check_id):
    """Seed numpy's and Python's global random generators from `check_id` (this worker's, not the learner's
    library's choice): a learner's model drawing its weights from them gives the same outcome and message on every
    run, whichever checks ran before, so the same submission always gets the same grade."""
    seed = zlib.crc32(check_id.encode())
    np.random.seed(seed)
    random.seed(seed)


def _importer(error, path, name):
    """The learner's file whose import statement raised `error` (the innermost one in `path`), else NAME.py."""
    inside = [frame.filename for frame in traceback.extract_tb(error.__traceback__) if _inside(frame.filename, path)]
    return os.path.relpath(inside[-1], path) if inside else f"{name}.py"


def _wait_until_read(fd, patience=60.0):
    """Wait until the pipe `fd` (the learner's stdout and stderr) is empty, at most `patience` seconds.

    The parent reads the pipe all the time: the patience only matters on a machine so loaded that reading 10 MB
    takes seconds (at 5 s, the count of a check's output was once 0.1 MB short).
    """
    give_up = time.monotonic() + patience
    while time.monotonic() < give_up:
        try:
            unread = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
        except OSError:
            return  # not a pipe (the learner closed or replaced it): nothing to wait for
        if not unread:
            return
        time.sleep(0.001)


def modules_of(needs):
    """The module names of a check's `needs` ("layers.X", "model.Y" -> ["layers", "model"]), each once."""
    return list(dict.fromkeys(need.partition(".")[0] for need in needs))


def _outcome(function, modules, path):
    """(status, message, hint key, timing) of calling the check function on the learner's modules.

    A check that stopped on something numpy removed (np.float and the other aliases, np.reshape's `newshape=`)
    stays an `error` with its hint, and its message adds what the check says when run again with it put back.
    """
    outcome = _call(function, modules, path)
    if outcome[2] not in NUMPY_REMOVAL_HINTS:
        return outcome
    with _numpy_removals_put_back():
        status, message, hint, _ = _call(function, modules, path)
    aliases = "np.float = float, np.int = int, np.product = np.prod"
    aliases += ", ..., np.reshape's newshape="
    again = {"pass": "the check passes", "info": f"the check passes ({message})",
             "timing": "the check passes", "fail": f"the check fails: {message}",
             "not implemented": f"it is not implemented: {message}"}.get(status, f"it raises {message}")
    if status == "fail" and hint:
        again += f" (hint: {base.HINTS[hint]})"
    return (outcome[0], _shorten(f"{outcome[1]}; with what numpy removed put back ({aliases}) {again}",
                                 4 * _MESSAGE_LIMIT), outcome[2], None)


@contextlib.contextmanager
def _numpy_removals_put_back():
    """For the duration: numpy's removed aliases (REMOVED_NUMPY_ALIASES) that this numpy lacks, and an np.reshape
    that takes `newshape=` again."""
    import numpy
    added = [name for name in REMOVED_NUMPY_ALIASES if name not in vars(numpy)]
    for name in added:
        setattr(numpy, name, REMOVED_NUMPY_ALIASES[name])
    reshape = numpy.reshape

    def reshape_with_newshape(a, *args, newshape=None, **kwargs):
        return reshape(a, *((newshape,) if newshape is not None else ()), *args, **kwargs)
    numpy.reshape = reshape_with_newshape
    try:
        yield
    finally:
        numpy.reshape = reshape
        for name in added:
            delattr(numpy, name)


def _call(function, modules, path):
    """(status, message, hint key, timing) of one call of the check function."""
    try:
        value = function(modules)
    except CheckFailed as failure:
        return "fail", _shorten(failure.message, 4 * _MESSAGE_LIMIT), failure.hint, None
    except Unimplemented as stub:
        return "not implemented", _shorten(stub.message, _MESSAGE_LIMIT), None, None
    except BaseException as error:  # everything the learner's code raises, SystemExit included
        return _exception_outcome(error, path)
    if value is None:
        return "pass", "", None, None
    if isinstance(value, Info):
        return "info", value.message, None, None
    if isinstance(value, Timing):
        return "timing", "", None, (float(value.seconds), value.what)
    return "error", f"the check returned {type(value).__name__}, not None, Info or Timing (a bug of the check)", \
        None, None


def _exception_outcome(error, path):
    """(status, message, hint key, None) for an exception raised by the learner's code."""
    where = _where(error, path)
    if isinstance(error, SystemExit):
        code = "" if error.code is None else repr(error.code)
        return "error", f"called sys.exit({code}){where}", None, None
    text = _shorten(_first_line(str(error)), _MESSAGE_LIMIT)
    if isinstance(error, NotImplementedError) or text.strip().rstrip("!.").lower() == "not implemented":
        raised = f"{type(error).__name__}({text!r})" if text else type(error).__name__
        return "not implemented", f"raises {raised}{where}", None, None
    if getattr(error, "check_input", None):
        where += f" (input: {error.check_input})"
    hint = None
    if isinstance(error, AttributeError) and _REMOVED_ALIAS.search(text):
        hint = "np_float_removed"
    elif isinstance(error, TypeError) and "unexpected keyword argument 'newshape'" in text:
        hint = "np_reshape_newshape"
    return "error", f"{type(error).__name__}: {text}{where}", hint, None


def _where(error, path):
    """" (layers.py:123 in backward)": the innermost place of the traceback inside the learner's folder."""
    if isinstance(error, SyntaxError) and error.filename and _inside(error.filename, path):
        return f" ({os.path.relpath(error.filename, path)}:{error.lineno})"
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if _inside(frame.filename, path):
            return f" ({os.path.relpath(frame.filename, path)}:{frame.lineno} in {frame.name})"
    if frames:
        frame = frames[-1]
        missing = re.fullmatch(r"'(\w+)' object has no attribute '(\w+)'", str(error))
        if isinstance(error, AttributeError) and missing:
            return (f" (your {missing[1]} has no {missing[2]}, which the checker calls as the assignment's template "
                    f"does: is it defined, and indented inside the class?)")
        if isinstance(error, TypeError) and re.search(r"\bargument", str(error)):
            # Raised by the call itself: the learner's function does not take the template's arguments.
            return (f" (raised when the checker called your code with the arguments of the assignment's template, "
                    f"at {os.path.basename(frame.filename)}:{frame.lineno}: compare your function's arguments with "
                    f"the template's)")
        return f" (in {os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}, outside your files)"
    return ""


def _inside(file, path):
    return os.path.realpath(file).startswith(path + os.sep)


def _first_line(text):
    """The first non-empty line of `text` (the rest of a long message, e.g. numpy's advice, is left out)."""
    return next((line for line in text.splitlines() if line.strip()), "")


def _shorten(text, limit):
    """`text` on one line, at most `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


if __name__ == "__main__":
    main(sys.argv)
