"""check_solution.py: the runner of the checks on a learner's folder (processes, time limits, isolation), its report
and its command line.

The checks of checks_layers/checks_training/checks_data are not assumed here (their own tests cover them): the
runner's behaviour is tested with throwaway "Probe.*" checks written to a file that the worker loads through
CHECK_SOLUTION_EXTRA_CHECKS (for testing only), on learner folders written by each test.
"""
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

import check_solution
from check_worker import EXTRA_CHECKS_VARIABLE, load_checks
from checks_base import MODULES, STATUSES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Each probe calls the learner's function `module.name()`: None passes, "fail:<hint key>" fails, another str is an
# info; the speed probe times nothing, it reports the learner's layers.SPEED (ours has none: 1 ms).
PROBES = '''
from checks_base import CheckFailed, Info, Timing, check


def _probe(modules, module, name):
    value = getattr(getattr(modules, module), name)()
    if isinstance(value, str) and value.startswith("fail:"):
        raise CheckFailed("probe failed", hint=value[5:] or None)
    return Info(value) if isinstance(value, str) else value


for _need in {needs!r}:
    _module, _name = _need.split(".")
    check(f"Probe.{{_module}}.{{_name}}", needs=(_need,), description=f"probe of {{_need}}")(
        lambda modules, module=_module, name=_name: _probe(modules, module, name))


@check("Probe.speed.relu", needs=("layers.ReLULayer",), description="speed probe", speed=True)
def _speed(modules):
    return Timing(getattr(modules.layers, "SPEED", 0.001), "probe work")
'''


def write_probes(folder, needs):
    """Write the probe checks of `needs` ("module.name", ...) to folder/probes.py and return its path."""
    file = folder / "probes.py"
    file.write_text(PROBES.format(needs=list(needs)))
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
    def register(*needs):
        monkeypatch.setenv(EXTRA_CHECKS_VARIABLE, write_probes(tmp_path, needs))
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
    assert "accumulate with +=" in checks["Probe.layers.bad"]["hint"]
    assert checks["Probe.layers.note"]["status"] == "info"
    assert checks["Probe.layers.note"]["message"] == "a rule of mine"
    assert checks["Probe.layers.todo"]["status"] == "not implemented"
    assert checks["Probe.layers.oops"]["status"] == "error"
    assert checks["Probe.layers.oops"]["message"] == "KeyError: 'key' (layers.py:13 in oops)"
    assert checks["Probe.layers.absent"]["status"] == "missing"
    assert checks["Probe.layers.absent"]["message"] == "layers.py has no absent"
    assert checks["Probe.model.x"]["status"] == "missing"
    assert checks["Probe.model.x"]["message"].startswith("no model.py in ")
    assert report["summary"]["pass"] == 1 and report["summary"]["missing"] == 2
    assert check_solution.exit_code(report) == 1


def test_speed_check_compares_yours_with_ours(tmp_path, probes):
    probes()
    learner = write_modules(tmp_path / "learner", layers="""
        SPEED = 0.5
        class ReLULayer:
            pass
        """)
    entry = by_id(check_solution.run(learner, select=["Probe.speed."], timeout=10))["Probe.speed.relu"]
    assert entry["status"] == "info"
    assert entry["message"] == "yours 500 ms, ours 1 ms: 500x ours (what: probe work)"
    assert entry["hint_key"] == "slow_loops"
