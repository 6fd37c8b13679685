"""check_solution.py as a learner runs it: with only numpy and scipy importable, printing each check as it finishes,
stopped by Ctrl-C, --strict, and the run's facts recorded in the JSON report."""
import json
import os
import re
import subprocess
import sys
import textwrap

import check_solution
from check_worker import EXTRA_CHECKS_VARIABLE
from test_check_solution import by_id, write_modules, write_probes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Installed here, but not what the self-check needs: a sitecustomize.py on PYTHONPATH makes importing them fail.
NOT_NEEDED = ("threadpoolctl", "matplotlib", "tqdm", "joblib", "torch", "pandas", "sklearn")

BLOCKER = '''
import sys


class _Blocker:
    """Makes `import NAME` fail for the packages of BLOCKED, as if they were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
'''


def environment_without_extras(folder, **variables):
    """os.environ with a sitecustomize.py in `folder` (put on PYTHONPATH) that blocks the packages NOT_NEEDED."""
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(BLOCKER.format(blocked=NOT_NEEDED))
    return dict(os.environ, PYTHONPATH=str(folder), NO_COLOR="1", **variables)


def test_the_blocker_blocks(tmp_path):
    environment = environment_without_extras(tmp_path / "site")
    probe = subprocess.run([sys.executable, "-c", "import threadpoolctl"], capture_output=True, text=True,
                           env=environment, timeout=60)
    assert probe.returncode == 1 and "blocked by the test" in probe.stderr


def test_the_self_check_needs_only_numpy_and_scipy(tmp_path):
    learner = tmp_path / "learner"
    learner.mkdir()
    for name in ("layers.py", "kernels.py", "conv_gemm.py", "param.py", "normalization.py", "validation.py",
                 "optim.py"):
        (learner / name).write_text((open(os.path.join(REPO, name), encoding="utf-8")).read())
    environment = environment_without_extras(tmp_path / "site")
    listed = subprocess.run([sys.executable, "check_solution.py", "--list"], capture_output=True, text=True,
                            env=environment, timeout=120, cwd=REPO)
    assert listed.returncode == 0, listed.stderr
    command = subprocess.run([sys.executable, os.path.join(REPO, "check_solution.py"), str(learner), "--only",
                              "optim", "--json", str(tmp_path / "report.json")],
                             capture_output=True, text=True, env=environment, timeout=120, cwd=tmp_path)
    assert command.returncode == 0, command.stdout + command.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"]["pass"] > 0 and report["summary"]["pass"] == len(report["checks"])
    # A speed check: timed on one BLAS thread, on the learner's modules and ours.
    speed = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import json, check_solution
        report = check_solution.run({str(learner)!r}, select=["ConvolutionalLayer.speed", "Param."])
        print(json.dumps(report["checks"]))
        """)], capture_output=True, text=True, env=environment, timeout=120, cwd=REPO)
    assert speed.returncode == 0, speed.stderr
    statuses = {entry["id"]: entry["status"] for entry in json.loads(speed.stdout)}
    assert statuses == {"Param.init.value_and_grad": "pass", "ConvolutionalLayer.speed.svhn_batch": "info"}


BLAS_PROBE = '''
from checks_base import Info, check


@check("Probe.blas.threads", needs=("layers.ok",), description="the BLAS threads of the worker")
def _threads(modules):
    from threadpoolctl import threadpool_info
    return Info(",".join(sorted({str(pool["num_threads"]) for pool in threadpool_info()})))
'''


def test_checks_run_on_one_blas_thread(tmp_path, monkeypatch):
    (tmp_path / "probe.py").write_text(BLAS_PROBE)
    monkeypatch.setenv(EXTRA_CHECKS_VARIABLE, str(tmp_path / "probe.py"))
    learner = write_modules(tmp_path / "learner", layers="""
        import numpy as np
        np.ones((64, 64)) @ np.ones((64, 64))
        def ok():
            return None
        """)
    entry = by_id(check_solution.run(learner, select=["Probe."], timeout=30))["Probe.blas.threads"]
    assert (entry["status"], entry["message"]) == ("info", "1")


ASSIGNMENT_FILES = ("layers.py", "model.py", "optim.py", "trainer.py", "metrics.py", "dataset.py", "gradient_check.py")


def test_modules_importing_siblings_absent_from_path_are_missing_once_per_module(tmp_path):
    learner = tmp_path / "learner"
    learner.mkdir()
    for name in ASSIGNMENT_FILES:
        (learner / name).write_text(open(os.path.join(REPO, name), encoding="utf-8").read())
    report = check_solution.run(str(learner))
    assert {entry["status"] for entry in report["checks"]} == {"missing"}
    for module in {entry["module"] for entry in report["checks"]}:
        messages = {entry["message"] for entry in report["checks"] if entry["module"] == module}
        assert len(messages) == 1, (module, messages)
        importer, absent = re.match(r"^(\w+)\.py imports (\w+), and there is no \2\.py in ", messages.pop()).groups()
        assert f"{importer}.py" in ASSIGNMENT_FILES and not (learner / f"{absent}.py").exists()
    text = check_solution.format_report(report)
    assert len(re.findall(r"^all \d+ checks missing: ", text, re.MULTILINE)) == len(ASSIGNMENT_FILES)
    assert len(re.findall(r" imports ", text)) == len(ASSIGNMENT_FILES)
