"""check_solution.py: the runner of the checks on a learner's folder (processes, time limits, isolation), its report
and its command line.

The checks of selfcheck/checks/layers.py, model.py, ... (one check module per learner module) are not assumed here
(their own tests cover them): the runner's behaviour is tested with throwaway "Probe.*" checks written to a file that
the worker loads through CHECK_SOLUTION_EXTRA_CHECKS (for testing only), on learner folders written by each test.
"""
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

import check_solution
from selfcheck import base, runner
from selfcheck.base import MODULES, STATUSES
from selfcheck.worker import EXTRA_CHECKS_VARIABLE, load_checks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Each probe calls the learner's function `module.name()`: None passes, "fail:<hint key>" fails, another str is an
# info. Each speed probe "Probe.speed.<name>" needs layers.<name> and times nothing: it reports the learner's
# layers.SPEED (ours has none: 1 ms).
PROBES = '''
from selfcheck.base import CheckFailed, Info, Timing, check


def _probe(modules, module, name):
    value = getattr(getattr(modules, module), name)()
    if isinstance(value, str) and value.startswith("fail:"):
        raise CheckFailed("probe failed", hint=value[5:] or None)
    return Info(value) if isinstance(value, str) else value


for _need in {needs!r}:
    _module, _name = _need.split(".")
    check(f"Probe.{{_module}}.{{_name}}", needs=(_need,), description=f"probe of {{_need}}")(
        lambda modules, module=_module, name=_name: _probe(modules, module, name))


for _name in {speed!r}:
    check(f"Probe.speed.{{_name}}", needs=(f"layers.{{_name}}",), description="speed probe", speed=True)(
        lambda modules: Timing(getattr(modules.layers, "SPEED", 0.001), "probe work"))
'''


def write_probes(folder, needs, speed=()):
    """Write the probe checks of `needs` ("module.name", ...) and the speed probes of the layers names `speed` to
    folder/probes.py and return its path."""
    file = folder / "probes.py"
    file.write_text(PROBES.format(needs=list(needs), speed=list(speed)))
    return str(file)


def write_modules(folder, **sources):
    """Write each module's dedented source into `folder` (a pathlib.Path) and return the folder as a str."""
    folder.mkdir(exist_ok=True)
    for name, source in sources.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return str(folder)


def by_id(report):
    return {entry["id"]: entry for entry in report["checks"]}


@pytest.fixture
def probes(tmp_path, monkeypatch):
    """A function that registers probe checks of the given needs for the runs of the test."""
    def register(*needs, speed=()):
        monkeypatch.setenv(EXTRA_CHECKS_VARIABLE, write_probes(tmp_path, needs, speed))
    return register


def test_run_reports_each_probe_outcome_in_the_documented_shape(tmp_path, probes):
    probes("layers.ok", "layers.bad", "layers.note", "layers.todo", "layers.oops", "layers.absent", "model.x")
    learner = write_modules(tmp_path / "learner", layers="""
        class ReLULayer:
            pass
        def ok():
            return None
        def bad():
            return "fail:overlapping_windows"
        def note():
            return "a rule of mine"
        def todo():
            raise NotImplementedError
        def oops():
            return {}["key"]
        """)
    report = check_solution.run(learner, select=["Probe."], timeout=10)
    assert set(report) == {"path", "checks", "summary"}
    assert report["path"] == os.path.realpath(learner)
    assert set(report["summary"]) == set(STATUSES)
    checks = by_id(report)
    assert all(set(entry) == {"id", "module", "status", "message", "hint", "hint_key", "seconds"}
               for entry in report["checks"])
    assert checks["Probe.layers.ok"]["status"] == "pass"
    assert checks["Probe.layers.bad"]["status"] == "fail"
    assert checks["Probe.layers.bad"]["hint_key"] == "overlapping_windows"
    assert "add each window's gradient with +=" in checks["Probe.layers.bad"]["hint"]
    assert checks["Probe.layers.note"]["status"] == "info"
    assert checks["Probe.layers.note"]["message"] == "a rule of mine"
    assert checks["Probe.layers.todo"]["status"] == "not implemented"
    assert checks["Probe.layers.todo"]["message"] == "raises NotImplementedError (layers.py:11 in todo)"
    assert checks["Probe.layers.oops"]["status"] == "error"
    assert checks["Probe.layers.oops"]["message"] == "KeyError: 'key' (layers.py:13 in oops)"
    assert checks["Probe.layers.absent"]["status"] == "missing"
    assert checks["Probe.layers.absent"]["message"] == "layers.py has no absent"
    assert checks["Probe.model.x"]["status"] == "missing"
    assert checks["Probe.model.x"]["message"].startswith("no model.py in ")
    assert report["summary"]["pass"] == 1 and report["summary"]["missing"] == 2
    assert check_solution.exit_code(report) == 1


def test_speed_checks_compare_yours_with_ours_and_survive_ours_failing(tmp_path, probes):
    probes(speed=("ReLULayer", "OnlyMine"))
    learner = write_modules(tmp_path / "learner", layers="""
        SPEED = 0.5
        class ReLULayer:
            pass
        class OnlyMine:
            pass
        """)
    assert check_solution.run(learner, select=["Probe."], timeout=10)["checks"] == []  # speed: named only
    checks = by_id(check_solution.run(learner, select=["Probe.speed"], timeout=10))
    assert checks["Probe.speed.ReLULayer"]["status"] == "info"
    assert checks["Probe.speed.ReLULayer"]["message"] == "yours 500 ms, ours 1 ms: 500x ours (what: probe work)"
    assert checks["Probe.speed.ReLULayer"]["hint_key"] == "slow_loops"
    assert checks["Probe.speed.OnlyMine"]["status"] == "info"
    assert checks["Probe.speed.OnlyMine"]["message"] == ("yours 500 ms (what: probe work); ours could not be timed: "
                                                         "missing: layers.py has no OnlyMine")
    assert checks["Probe.speed.OnlyMine"]["hint_key"] is None


ROBUSTNESS_TIMEOUT = 1.5
ROBUSTNESS_NEEDS = ("layers.ok", "layers.hang", "layers.shout", "layers.leave", "layers.quit", "layers.crash",
                    "layers.old_numpy", "layers.after", "layers.todo", "layers.old_numpy_wrong",
                    "layers.old_numpy_raises", "layers.old_reshape", "layers.numpy_1", "model.a", "model.b", "model.c",
                    "model.d", "metrics.a", "optim.a", "dataset.a", "dataset.b", "trainer.a", "gradient_check.ok",
                    "gradient_check.absent")


@pytest.fixture(scope="module")
def robustness(tmp_path_factory):
    """One run on a folder whose code hangs, prints 10 MB, raises, exits and crashes, at import and in functions:
    (report, the check ids given to each worker process started)."""
    folder = tmp_path_factory.mktemp("robustness")
    learner = write_modules(
        folder / "learner",
        layers="""
            import ctypes
            import os
            import sys
            import numpy as np
            def ok():
                return None
            def hang():
                while True:
                    pass
            def shout():
                os.write(1, b"C" * 5_000_000)
                print("x" * 5_000_000)
            def leave():
                os._exit(5)
            def quit():
                sys.exit(3)
            def crash():
                ctypes.string_at(0)
            def old_numpy():
                return None if np.float(1) else None
            def after():
                return None
            def todo():
                raise ValueError("not implemented!")
            def old_numpy_wrong():
                return "fail:stride_ignored" if np.int(1) else None
            def old_numpy_raises():
                return [np.float(1), 1 / 0]
            def old_reshape():
                return None if np.reshape(np.zeros(4), newshape=(2, 2)) is not None else None
            def numpy_1():
                return None if np.product([2, 3]) == 6 and np.NaN != 0 else "fail:"
            """,
        model="""
            while True:
                pass
            """,
        metrics="""
            x = 1
            raise TypeError("boom")
            """,
        optim="""
            import sys
            sys.exit(3)
            """,
        dataset="""
            import os
            os._exit(4)
            """,
        gradient_check="""
            def ok():
                return None
            """)
    workers = []

    class Worker(runner._Worker):
        def __init__(self, path, ids, *rest):
            workers.append(ids)
            super().__init__(path, ids, *rest)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(EXTRA_CHECKS_VARIABLE, write_probes(folder, ROBUSTNESS_NEEDS))
        patch.setattr(runner, "_Worker", Worker)
        report = check_solution.run(learner, select=["Probe."], timeout=ROBUSTNESS_TIMEOUT)
    return report, workers


@pytest.mark.parametrize("check_id, status, message, hint_key", [
    ("Probe.layers.ok", "pass", r"^$", None),
    ("Probe.layers.hang", "timeout", r"^did not finish in 1\.5 s$", None),
    ("Probe.layers.shout", "pass", r"^printed 10\.0 MB \(not shown\)$", None),
    ("Probe.layers.leave", "error", r"^the worker process running it exited with code 5 ", None),
    ("Probe.layers.quit", "error", r"^called sys\.exit\(3\) \(layers\.py:17 in quit\)$", None),
    ("Probe.layers.crash", "error", r"^the worker process running it was killed by signal SIGSEGV ", None),
    ("Probe.layers.old_numpy", "error",
     r"^AttributeError: module 'numpy' has no attribute 'float'\. \(layers\.py:21 in old_numpy\); with what "
     r"numpy removed put back \(np\.float = float, np\.int = int, np\.product = np\.prod, \.\.\., np\.reshape's "
     r"newshape=\) the check "
     r"passes$", "np_float_removed"),
    ("Probe.layers.old_numpy_wrong", "error",
     r"^AttributeError: module 'numpy' has no attribute 'int'\. \(layers\.py:27 in old_numpy_wrong\); with what "
     r"numpy removed put back \(.*\) the check fails: probe failed \(hint: the windows do not move by "
     r"`stride`", "np_float_removed"),
    ("Probe.layers.old_numpy_raises", "error",
     r"'float'\. \(layers\.py:29 in old_numpy_raises\); with what numpy removed put back \(.*\) it raises "
     r"ZeroDivisionError: division by zero \(layers\.py:29 in old_numpy_raises\)$", "np_float_removed"),
    ("Probe.layers.old_reshape", "error",
     r"^TypeError: reshape\(\) got an unexpected keyword argument 'newshape' \(layers\.py:31 in old_reshape\); with "
     r"what numpy removed put back \(.*\) the check passes$", "np_reshape_newshape"),
    ("Probe.layers.numpy_1", "error",
     r"^AttributeError: module 'numpy' has no attribute 'product' \(layers\.py:33 in numpy_1\); with what numpy "
     r"removed put back \(.*\) the check passes$", "np_float_removed"),
    ("Probe.layers.after", "pass", r"^$", None),
    ("Probe.layers.todo", "not implemented", r"^raises ValueError\('not implemented!'\) \(layers\.py:25 in todo\)$",
     None),
    ("Probe.model.a", "timeout", r"^importing model\.py did not finish in 1\.5 s$", None),
    ("Probe.model.d", "timeout", r"^importing model\.py did not finish in 1\.5 s$", None),
    ("Probe.metrics.a", "error", r"^importing metrics\.py failed: TypeError: boom \(metrics\.py:3 in <module>\)$",
     None),
    ("Probe.optim.a", "error", r"^importing optim\.py failed: called sys\.exit\(3\) \(optim\.py:3 in <module>\)$",
     None),
    ("Probe.dataset.a", "error", r"^the worker process importing dataset\.py exited with code 4 ", None),
    ("Probe.dataset.b", "error", r"^the worker process importing dataset\.py exited with code 4 ", None),
    ("Probe.trainer.a", "missing", r"^no trainer\.py in ", None),
    ("Probe.gradient_check.ok", "pass", r"^$", None),
    ("Probe.gradient_check.absent", "missing", r"^gradient_check\.py has no absent$", None),
])
def test_hangs_prints_raises_exits_and_crashes_are_reported_and_the_rest_runs(robustness, check_id, status, message,
                                                                              hint_key):
    entry = by_id(robustness[0])[check_id]
    assert (entry["status"], entry["hint_key"]) == (status, hint_key), entry["message"]
    assert re.search(message, entry["message"]), entry["message"]


def test_a_module_that_hangs_or_dies_at_import_is_not_tried_again_for_its_other_checks(robustness):
    report, workers = robustness
    assert sorted(entry["id"] for entry in report["checks"]) == sorted(f"Probe.{need}" for need in ROBUSTNESS_NEEDS)
    # A fresh worker after each of layers.hang, leave, crash, model's import and dataset's import, given neither the
    # rest of model's checks nor of dataset's.
    assert [ids[0] for ids in workers] == ["Probe.layers.ok", "Probe.layers.shout", "Probe.layers.quit",
                                           "Probe.layers.old_numpy", "Probe.optim.a", "Probe.gradient_check.ok"]
    assert workers[4] == ["Probe.optim.a", "Probe.metrics.a", "Probe.dataset.a", "Probe.dataset.b",
                          "Probe.gradient_check.ok", "Probe.gradient_check.absent"]


def test_the_learners_modules_are_imported_from_path_only_in_a_fresh_folder(tmp_path, probes, monkeypatch):
    probes("layers.x", "model.x", "metrics.where")
    monkeypatch.setenv("PYTHONPATH", REPO)
    learner = write_modules(tmp_path / "learner",
                            model="""
                                from layers import ReLULayer
                                """,
                            metrics="""
                                import json
                                import os
                                import sys
                                def where():
                                    return json.dumps({"cwd": os.getcwd(), "path": sys.path})
                                """)
    checks = by_id(check_solution.run(learner, select=["Probe."], timeout=10))
    assert checks["Probe.layers.x"]["status"] == "missing"
    assert checks["Probe.model.x"]["status"] == "missing"  # it needs layers.py, which is not in PATH
    assert checks["Probe.model.x"]["message"] == f"model.py imports layers, and there is no layers.py in {learner} " \
                                                 "(model.py:2 in <module>)"
    where = json.loads(checks["Probe.metrics.where"]["message"])
    assert where["path"][0] == learner
    assert REPO not in where["path"] and "" not in where["path"]
    assert where["cwd"] not in (learner, REPO) and not os.path.exists(where["cwd"])
    assert sorted(os.listdir(learner)) == ["metrics.py", "model.py"]  # no __pycache__ left behind


def test_modules_importing_a_sibling_assignment_find_it_beside_path(tmp_path, probes):
    """Published solutions import helpers from assignment1/ or assignment2/, beside their assignment3/ folder."""
    probes("layers.ok", "model.ok")
    (tmp_path / "assignments").mkdir()
    write_modules(tmp_path / "assignments" / "assignment1", helpers="""
        def ok():
            return None
        """)
    learner = write_modules(tmp_path / "assignments" / "assignment3", layers="""
        from assignment1.helpers import ok
        """, model="""
        from assignment2.helpers import ok
        """)
    checks = by_id(check_solution.run(learner, select=["Probe."], timeout=10))
    assert checks["Probe.layers.ok"]["status"] == "pass"
    assert checks["Probe.model.ok"]["status"] == "error"
    assert checks["Probe.model.ok"]["message"].startswith("importing model.py failed: ModuleNotFoundError: No module "
                                                          "named 'assignment2' (model.py:2 in <module>); ")
    assert "a folder named assignment2 beside assignment3 (or this folder itself named so)" in \
        checks["Probe.model.ok"]["message"]


def test_a_parent_folder_with_modules_of_the_assignment_is_not_searched(tmp_path, probes):
    probes("model.ok")
    write_modules(tmp_path, layers="""
        def ok():
            return None
        """)
    learner = write_modules(tmp_path / "learner", model="""
        from layers import ok
        """)
    assert by_id(check_solution.run(learner, select=["Probe."], timeout=10))["Probe.model.ok"]["status"] == "missing"


CALLING_PROBE = """
from selfcheck.base import check


@check("Probe.call.contract", needs=("optim.SGD",), description="calls update as the template does")
def _call(modules):
    modules.optim.SGD().update(1.0, 2.0, 0.1)
"""


def test_a_function_whose_arguments_differ_from_the_templates_is_told_so(tmp_path, monkeypatch):
    (tmp_path / "probe.py").write_text(CALLING_PROBE)
    monkeypatch.setenv(EXTRA_CHECKS_VARIABLE, str(tmp_path / "probe.py"))
    learner = write_modules(tmp_path / "learner", optim="""
        class SGD:
            def update(self, w, d_w, learning_rate, param_name):
                return w - learning_rate * d_w
        """)
    entry = by_id(check_solution.run(learner, select=["Probe."], timeout=10))["Probe.call.contract"]
    assert entry["status"] == "error"
    assert re.fullmatch(r"TypeError: SGD\.update\(\) missing 1 required positional argument: 'param_name' \(raised "
                        r"when the checker called your code with the arguments of the assignment's template, at "
                        r"probe\.py:7: compare your function's arguments with the template's\)", entry["message"]), \
        entry["message"]


MISSING_METHOD_PROBE = """
from selfcheck.base import check


@check("Probe.call.method", needs=("layers.Pool",), description="calls params() of a layer")
def _call(modules):
    modules.layers.Pool().params()
"""


def test_a_method_the_template_has_but_the_learners_class_lacks_is_named(tmp_path, monkeypatch):
    (tmp_path / "probe.py").write_text(MISSING_METHOD_PROBE)
    monkeypatch.setenv(EXTRA_CHECKS_VARIABLE, str(tmp_path / "probe.py"))
    learner = write_modules(tmp_path / "learner", layers="""
        class Pool:
            def forward(self, X):
                return X

        def params(self):
            return {}
        """)
    entry = by_id(check_solution.run(learner, select=["Probe."], timeout=10))["Probe.call.method"]
    assert entry["status"] == "error"
    assert entry["message"] == ("AttributeError: 'Pool' object has no attribute 'params' (your Pool has no params, "
                                "which the checker calls as the assignment's template does: is it defined, and "
                                "indented inside the class?)")


INPUT_PROBE = """
from selfcheck.base import check, on_input


@check("Probe.call.input", needs=("layers.f",), description="calls f on a named input")
def _call(modules):
    with on_input("batch 1, padding 0"):
        modules.layers.f()
"""


def test_an_error_names_the_input_it_was_raised_on(tmp_path, monkeypatch):
    (tmp_path / "probe.py").write_text(INPUT_PROBE)
    monkeypatch.setenv(EXTRA_CHECKS_VARIABLE, str(tmp_path / "probe.py"))
    learner = write_modules(tmp_path / "learner", layers="""
        def f():
            raise ValueError("boom")
        """)
    entry = by_id(check_solution.run(learner, select=["Probe."], timeout=10))["Probe.call.input"]
    assert (entry["status"], entry["message"]) == ("error", "ValueError: boom (layers.py:3 in f) (input: batch 1, "
                                                            "padding 0)")


def test_template_stubs_make_every_check_not_implemented(tmp_path, probes):
    probes("layers.ReLULayer", "model.ConvNet", "optim.SGD", "trainer.Trainer", "metrics.multiclass_accuracy",
           "dataset.load_svhn", "gradient_check.check_gradient")
    report = check_solution.run(write_template(tmp_path / "template"), timeout=30)
    assert report["checks"]
    assert {entry["id"]: entry["status"] for entry in report["checks"]} == \
        {entry["id"]: "not implemented" for entry in report["checks"]}
    assert check_solution.exit_code(report) == 0


def write_template(folder):
    """The assignment's modules as a learner receives them: every contract name there, every function and method
    (__init__ included) raising Exception("Not implemented!")."""
    methods = ("__init__", "forward", "backward", "params")
    contract = {
        "layers": {"Param": methods, "ReLULayer": methods, "FullyConnectedLayer": methods,
                   "ConvolutionalLayer": methods, "MaxPoolingLayer": methods, "Flattener": methods,
                   "l2_regularization": None, "softmax_with_cross_entropy": None},
        "model": {"ConvNet": ("__init__", "compute_loss_and_gradients", "predict", "params")},
        "optim": {"SGD": ("__init__", "update"), "MomentumSGD": ("__init__", "update")},
        "trainer": {"Dataset": ("__init__",), "Trainer": ("__init__", "fit", "compute_accuracy")},
        "metrics": {"binary_classification_metrics": None, "multiclass_accuracy": None},
        "dataset": {"load_data_mat": None, "load_svhn": None, "random_split_train_val": None},
        "gradient_check": {"check_gradient": None, "check_layer_gradient": None, "check_layer_param_gradient": None,
                           "check_model_gradient": None},
    }
    body = '    raise Exception("Not implemented!")\n'
    sources = {}
    for module, names in contract.items():
        parts = []
        for name, members in names.items():
            if members is None:
                parts.append(f"def {name}(*args, **kwargs):\n{body}")
            else:
                parts.append(f"class {name}:\n" + "".join(f"    def {member}(self, *args, **kwargs):\n    {body}"
                                                          for member in members))
        sources[module] = "\n\n".join(parts)
    assert set(sources) == set(MODULES)
    return write_modules(folder, **sources)


def test_every_check_passes_on_our_own_modules():
    report = check_solution.run(REPO)
    assert report["checks"]
    assert {entry["id"]: entry["status"] for entry in report["checks"] if entry["status"] not in ("pass", "info")} \
        == {}
    assert check_solution.exit_code(report) == 0


@pytest.mark.parametrize("kwargs, error, match", [
    ({"path": 3}, TypeError, r"^`path` must be a str or os\.PathLike, got int$"),
    ({"path": "/no/such/folder"}, FileNotFoundError,
     r"^`path` must be an existing folder, got '/no/such/folder', which does not exist$"),
    ({"path": __file__}, NotADirectoryError,
     r"^`path` must be a folder holding the assignment's modules, got the file"),
    ({"path": os.path.dirname(__file__)}, ValueError,
     r"^`path` must be a folder holding at least one of the assignment's modules \(layers\.py, .*gradient_check\.py\), "
     r"got '.*tests', which holds none$"),
    ({"only": ["layer"]}, ValueError, r"^`only` must hold module names of layers, .*, got 'layer'$"),
    ({"only": "layers"}, TypeError, r"^`only` must be a list of str or None, got 'layers'$"),
    ({"select": "Probe."}, TypeError, r"^`select` must be a list of str or None, got 'Probe\.'$"),
    ({"timeout": 0}, ValueError, r"^`timeout` must be a finite number > 0, got 0\.0$"),
    ({"timeout": "30"}, TypeError, r"^`timeout` must be a real number, got '30' of type str$"),
])
def test_run_refuses_bad_arguments_before_running_anything(kwargs, error, match, monkeypatch):
    monkeypatch.setattr(runner, "_Worker", None)  # a worker started would fail with another error
    with pytest.raises(error, match=match):
        check_solution.run(**{"path": REPO, **kwargs})


@pytest.mark.parametrize("arguments, message", [
    ([], r"the argument PATH is required: the folder holding your layers\.py, model\.py, \.\.\."),
    (["/no/such/folder"], r"`PATH` must be an existing folder, got '/no/such/folder', which does not exist"),
    ([__file__], r"`PATH` must be a folder holding the assignment's modules, got the file '.*'"),
    ([os.path.dirname(__file__)], r"`PATH` must be a folder holding at least one of the assignment's modules .*, "
                                  r"which holds none"),
    ([REPO, "--only", "layer"], r"argument --only: invalid choice: 'layer' \(choose from layers, model, .*\)"),
    (["--only", "layers", "/no/such/folder"], r"`PATH` must be an existing folder, got '/no/such/folder', which "
                                              r"does not exist"),
    (["--only", "layer", REPO], r"argument --only: invalid choice: 'layer' \(choose from layers, model, .*\)"),
    ([REPO, "--timeout", "0"], r"argument --timeout: must be a finite number of seconds > 0, got '0'"),
    ([REPO, "--timeout", "soon"], r"argument --timeout: must be a finite number of seconds > 0, got 'soon'"),
    ([REPO, "--json", "/no/such/folder/report.json"],
     r"`--json` '/no/such/folder/report\.json': directory /no/such/folder does not exist; create it first"),
    ([REPO, "--json", REPO], r"`--json` must name a file, got the directory '.*'; add a file name, e\.g\. "
                             r"'.*/report\.json'"),
])
def test_usage_errors_exit_2_with_one_line_naming_the_argument(arguments, message, capsys, monkeypatch):
    monkeypatch.setattr(runner, "run", None)  # nothing may run
    with pytest.raises(SystemExit) as stop:
        check_solution.main(arguments)
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert re.fullmatch(rf"check_solution\.py: error: {message} \(see --help\)\n", error), error


def test_json_refuses_to_replace_a_file_that_is_not_an_earlier_report(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "run", None)
    foreign = tmp_path / "notes.json"
    foreign.write_text('{"checks": []}')
    with pytest.raises(SystemExit) as stop:
        check_solution.main([REPO, "--json", str(foreign)])
    assert stop.value.code == 2
    assert re.fullmatch(r"check_solution\.py: error: `--json` '.*notes\.json' exists and is not an earlier "
                        r"check_solution report: refusing to replace it; choose another file name \(see --help\)\n",
                        capsys.readouterr().err)
    assert foreign.read_text() == '{"checks": []}'


def test_list_prints_every_check_with_its_module_and_description(capsys, probes):
    probes("metrics.a")
    assert check_solution.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    registry = load_checks()
    assert len(lines) == len(registry)
    assert [line.split()[0] for line in lines] == [check.id for check in sorted(
        registry.values(), key=lambda check: MODULES.index(check.module))]
    assert [line for line in lines if re.fullmatch(r"Probe\.metrics\.a +metrics +probe of metrics\.a", line)]


def test_command_line_report_exit_code_and_json(tmp_path):
    learner = write_modules(tmp_path / "learner", layers="""
        import os
        def ok():
            os.write(2, b"noise from C")
        def bad():
            return "fail:stride_ignored"
        """, metrics="""
        def ok():
            return None
        """)
    report_file = tmp_path / "report.json"
    report_file.write_text('{"checks": [], "summary": {}}')  # an earlier report: replaced
    environment = dict(os.environ, **{EXTRA_CHECKS_VARIABLE: write_probes(tmp_path, ["layers.ok", "layers.bad",
                                                                                      "metrics.ok"])})
    environment.pop("NO_COLOR", None)

    def command(*arguments):
        return subprocess.run([sys.executable, os.path.join(REPO, "check_solution.py"), learner, *arguments],
                              capture_output=True, text=True, env=environment, timeout=60)

    failing = command("--json", str(report_file))
    assert failing.returncode == 1, failing.stderr
    assert "\x1b[" not in failing.stdout  # no colours when stdout is not a terminal
    assert "noise from C" not in failing.stdout + failing.stderr
    assert re.search(r"\nProbe\.layers\.ok +pass +\d+\.\d\d s\nProbe\.layers\.bad +fail +\d+\.\d\d s  probe "
                     r"failed\n +hint: the windows do not move by", failing.stdout)
    # The registered checks other than the probes are `missing` here (no model.py, ...).
    assert re.search(r"\n\n2 passed, 1 failed, 0 errors, 0 not implemented, 0 timed out, 0 info, \d+ missing in "
                     r"\d+\.\d s\n$", failing.stdout)
    written = json.loads(report_file.read_text())
    assert set(written) == {"path", "checks", "summary", "seconds", "incomplete", "not_run", "checker_version",
                            "numpy_version", "python_version", "started_at"}
    assert [(entry["id"], entry["status"], entry["hint_key"]) for entry in written["checks"]
            if entry["id"].startswith("Probe.")] == [
        ("Probe.layers.ok", "pass", None), ("Probe.layers.bad", "fail", "stride_ignored"),
        ("Probe.metrics.ok", "pass", None)]
    assert written["summary"] == {"pass": 2, "fail": 1, "error": 0, "not implemented": 0, "timeout": 0, "info": 0,
                                  "missing": len(written["checks"]) - 3}
    passing = command("--only", "metrics")
    assert passing.returncode == 0, passing.stderr
    path_last = subprocess.run([sys.executable, os.path.join(REPO, "check_solution.py"), "--only", "metrics",
                                learner], capture_output=True, text=True, env=environment, timeout=60)
    assert path_last.returncode == 0, path_last.stderr
    assert re.sub(r"\d+\.\d+ s", "", path_last.stdout) == re.sub(r"\d+\.\d+ s", "", passing.stdout)
    assert "layers.py" not in passing.stdout and "Probe.metrics.ok" in passing.stdout
    assert re.search(r"\n\nmodel\.py\nall \d+ checks missing: no model\.py in .*learner\n\n", failing.stdout)


def test_colours_only_when_asked():
    report = {"path": "/x", "checks": [{"id": "A.b.c", "module": "layers", "status": "fail", "message": "m",
                                        "hint": None, "hint_key": None, "seconds": 0.0}],
              "summary": dict.fromkeys(STATUSES, 0)}
    assert "\x1b[31mfail" in check_solution.format_report(report, colour=True)
    assert "\x1b[" not in check_solution.format_report(report, colour=False)


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    class Terminal:
        def isatty(self):
            return True
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert check_solution.use_colour(Terminal())
    assert not check_solution.use_colour(open(os.devnull, "w"))
    monkeypatch.setenv("NO_COLOR", "")
    assert not check_solution.use_colour(Terminal())


def test_every_registered_check_is_documented_in_the_self_check_page():
    with open(os.path.join(REPO, "docs", "self-check.md"), encoding="utf-8") as file:
        section = file.read()
    rows = dict(re.findall(r"^\| `([\w.]+)` \| (\w+) \|", section, re.MULTILINE))
    assert {check.id: check.module for check in load_checks().values()} == rows


def test_every_hint_is_documented_in_the_self_check_page():
    with open(os.path.join(REPO, "docs", "self-check.md"), encoding="utf-8") as file:
        section = file.read()
    rows = dict(re.findall(r"^\| `(\w+)` \| (.+) \|$", section, re.MULTILINE))
    assert {key: rows.get(key) for key in base.HINTS} == base.HINTS
