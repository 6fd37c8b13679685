"""check_solution.py as a learner runs it: with only numpy and scipy importable, printing each check as it finishes,
stopped by Ctrl-C, --strict, and the run's facts recorded in the JSON report."""
import ast
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import textwrap

from test_check_solution import by_id, write_modules, write_probes

import check_solution
from selfcheck.worker import EXTRA_CHECKS_VARIABLE

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
    for name in ("layers.py", "kernels.py", "conv_gemm.py", "threads.py", "param.py",
                 "normalization.py", "validation.py", "optim.py"):
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
from selfcheck.base import Info, check


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


def worker_processes(marker):
    """Ids of the processes whose command line holds `marker` (a folder of the test): workers and their children."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                if marker.encode() in file.read():
                    found.append(int(pid))
        except OSError:
            pass  # ended meanwhile
    return found


def test_each_check_is_printed_as_it_finishes_and_ctrl_c_leaves_a_partial_report(tmp_path):
    learner = write_modules(tmp_path / "learner", layers="""
        def ok():
            return None
        def bad():
            return "fail:stride_ignored"
        """, metrics="""
        import subprocess
        import sys
        def hang():
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", __file__])
            while True:
                pass
        def after():
            return None
        """)
    report_file = tmp_path / "report.json"
    probes = write_probes(tmp_path, ["layers.ok", "layers.bad", "metrics.hang", "metrics.after"])
    process = subprocess.Popen([sys.executable, os.path.join(REPO, "check_solution.py"), learner, "--only", "layers",
                                "metrics", "--json", str(report_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=dict(os.environ, NO_COLOR="1", **{EXTRA_CHECKS_VARIABLE: probes}))
    printed = []
    while not printed or not printed[-1].startswith("Probe.layers.bad"):
        line = process.stdout.readline()
        assert line, "".join(printed) + process.stderr.read()
        printed.append(line)
    assert report_file.exists() is False  # printed before the run ends
    while not worker_processes(os.path.join(learner, "metrics.py")):  # the hanging check is running
        assert process.poll() is None
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=60)
    assert process.returncode == 130, errors
    assert "Traceback" not in errors
    output = "".join(printed) + rest
    assert re.search(r"\nProbe\.layers\.ok +pass +\d+\.\d\d s\nProbe\.layers\.bad +fail +\d+\.\d\d s  probe failed\n",
                     output)
    # The checks between layers.bad and the hanging one may or may not have finished when SIGINT lands (a loaded
    # machine is slow to start them): the report names every check not run, the hanging one and its successor last.
    written = json.loads(report_file.read_text())
    assert written["incomplete"] is True
    not_run = written["not_run"]
    assert not_run[-2:] == ["Probe.metrics.hang", "Probe.metrics.after"]
    assert re.search(rf"\n\ninterrupted \(Ctrl-C\): {len(not_run)} checks not run:\s.*Probe\.metrics\.hang,\s+"
                     rf"Probe\.metrics\.after\n", output, re.DOTALL), output  # a long list is wrapped
    assert re.search(rf"\n\n1 passed, 1 failed, 0 errors, 0 not implemented, 0 timed out, 0 info, \d+ missing, "
                     rf"{len(not_run)} not run in \d+\.\d s \(interrupted\)\n$", output), output
    assert [entry["id"] for entry in written["checks"] if entry["id"].startswith("Probe.")] == ["Probe.layers.ok",
                                                                                              "Probe.layers.bad"]
    assert worker_processes(learner) == []


def command(*arguments, probes=None):
    """check_solution.py run with `arguments`, the probe checks of the file `probes` registered."""
    environment = dict(os.environ, NO_COLOR="1", COLUMNS="100")
    if probes:
        environment[EXTRA_CHECKS_VARIABLE] = probes
    return subprocess.run([sys.executable, os.path.join(REPO, "check_solution.py"), *arguments], capture_output=True,
                          text=True, env=environment, timeout=120)


def test_strict_counts_missing_and_not_implemented_as_failures(tmp_path):
    only_dataset = write_modules(tmp_path / "dataset_only", dataset="""
        def load_svhn(*args, **kwargs):
            raise NotImplementedError
        """)
    relaxed = command(only_dataset)
    assert relaxed.returncode == 0, relaxed.stdout
    assert re.search(r" \d+ not implemented, 0 timed out, 0 info, \d+ missing in ", relaxed.stdout)
    strict = command(only_dataset, "--strict")
    assert strict.returncode == 1, strict.stdout


def test_the_json_report_records_the_checker_numpy_and_the_time_of_the_run(tmp_path):
    import numpy as np
    learner = write_modules(tmp_path / "learner", metrics="""
        x = 1
        """)
    before = datetime.datetime.now(datetime.timezone.utc)
    finished = command(learner, "--json", str(tmp_path / "report.json"))
    assert finished.returncode == 0, finished.stderr
    written = json.loads((tmp_path / "report.json").read_text())
    assert written["incomplete"] is False and written["not_run"] == []
    assert written["numpy_version"] == np.__version__
    assert re.fullmatch(r"sha256:[0-9a-f]{12}", written["checker_version"])
    assert written["checker_version"] == check_solution.checker_version()
    started = datetime.datetime.fromisoformat(written["started_at"])
    assert before - datetime.timedelta(seconds=1) <= started <= datetime.datetime.now(datetime.timezone.utc)


def test_the_streamed_table_is_the_report_formatted_at_the_end(tmp_path):
    learner = write_modules(tmp_path / "learner", optim="""
        def ok():
            return None
        """, metrics="""
        def ok():
            return None
        def bad():
            return "fail:stride_ignored"
        """)
    probes = write_probes(tmp_path, ["optim.ok", "metrics.ok", "metrics.bad"])
    finished = command(learner, "--json", str(tmp_path / "report.json"), probes=probes)
    written = json.loads((tmp_path / "report.json").read_text())
    assert finished.stdout == check_solution.format_report(written, written["seconds"], width=100) + "\n"


def local_imports(module):
    """The modules of this repository that REPO/module.py imports (at any depth of its code)."""
    tree = ast.parse(open(os.path.join(REPO, f"{module}.py"), encoding="utf-8").read())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    tops = {name.partition(".")[0] for name in names}
    return {name for name in tops if os.path.isfile(os.path.join(REPO, f"{name}.py"))}


def test_the_readme_example_copies_the_assignment_modules_and_everything_they_import(tmp_path):
    with open(os.path.join(REPO, "docs", "self-check.md"), encoding="utf-8") as file:
        section = file.read()
    copied = [name for line in re.findall(r"^cp (.*) my_solution/$", section, re.MULTILINE) for name in line.split()]
    closure, todo = set(), [name[:-3] for name in ASSIGNMENT_FILES]
    while todo:
        module = todo.pop()
        if module not in closure:
            closure.add(module)
            todo += local_imports(module)
    assert sorted(copied) == sorted(f"{module}.py" for module in closure)
    learner = tmp_path / "my_solution"
    learner.mkdir()
    for name in copied:
        (learner / name).write_text(open(os.path.join(REPO, name), encoding="utf-8").read())
    first_of_each = ["Param.init", "ConvNet.params", "SGD.", "Dataset.", "multiclass_accuracy.", "load_svhn.",
                     "check_gradient."]
    report = check_solution.run(str(learner), select=first_of_each)
    assert {entry["module"] for entry in report["checks"]} == {name[:-3] for name in ASSIGNMENT_FILES}
    assert {entry["status"] for entry in report["checks"]} == {"pass"}, report["checks"]


def test_python_m_selfcheck_is_check_solution_py():
    by_module = subprocess.run([sys.executable, "-m", "selfcheck", "--list"], capture_output=True, text=True,
                               timeout=120, cwd=REPO)
    by_file = subprocess.run([sys.executable, "check_solution.py", "--list"], capture_output=True, text=True,
                             timeout=120, cwd=REPO)
    assert by_module.returncode == by_file.returncode == 0, by_module.stderr
    assert by_module.stdout == by_file.stdout and "MaxPoolingLayer.backward.overlapping" in by_module.stdout
