"""Grading a class (selfcheck/grading.py, gradebook.py, points.py, submissions.py, gradescope.py): a class built here
(our modules, the template's stubs, mutants with one known bug each, a syntax error, an import that hangs, a memory
hog, a zip with a top folder) graded with --only optim metrics, whose checks take milliseconds."""
import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from check_harness import copy_our_modules
from test_check_metrics import MUTANTS as METRICS_MUTANTS
from test_check_metrics import TEMPLATE as METRICS_TEMPLATE
from test_check_optim import MUTANTS as OPTIM_MUTANTS
from test_check_optim import TEMPLATE as OPTIM_TEMPLATE

import check_solution
from selfcheck import points
from selfcheck.base import MODULES, STATUSES
from selfcheck.worker import load_checks

REPO = Path(__file__).resolve().parent.parent
ONLY = ["optim", "metrics"]
REGISTRY = load_checks()
TABLE = points.default_points(REGISTRY)
GRADED_IDS = [check.id for check in sorted(REGISTRY.values(), key=lambda check: MODULES.index(check.module))
              if check.module in ONLY]  # in the report's order
MAX_SCORE = round(sum(TABLE[check_id] for check_id in GRADED_IDS), 2)

#: (student, the mutant's pytest.param): the mutant's bug fails exactly the checks its table names.
MUTANT_STUDENTS = [("mutant_" + param.id, param) for param in (OPTIM_MUTANTS[0], METRICS_MUTANTS[0])]

HOG = """
import numpy as np
_everything = np.ones(2 ** 27)  # 1 GiB: more than the grading worker's address space allows
"""

SCRIBBLER = """
import os
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "scribble.txt"), "w") as _file:
    _file.write("written by the student's code at import")
"""


def grade(*arguments, timeout=300):
    return subprocess.run([sys.executable, str(REPO / "check_solution.py"), *arguments], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def ours(folder):
    folder.mkdir(parents=True)
    copy_our_modules(folder)
    return folder


def build_class(root):
    """The class: {student: (expected score, the ids of the checks that must not earn)}, written in root."""
    expected = {"ours": (MAX_SCORE, [])}
    ours(root / "ours")
    template = root / "template"
    template.mkdir()
    for name, text in {**OPTIM_TEMPLATE, **METRICS_TEMPLATE}.items():
        (template / name).write_text(text)
    expected["template"] = (0.0, GRADED_IDS)
    for student, param in MUTANT_STUDENTS:
        file, edit, _, failing = param.values
        folder = ours(root / student)
        (folder / file).write_text(edit((folder / file).read_text()))
        expected[student] = (round(MAX_SCORE - sum(TABLE[check_id] for check_id in failing), 2), sorted(failing))
    optim_ids = [check_id for check_id in GRADED_IDS if REGISTRY[check_id].module == "optim"]
    metrics_ids = [check_id for check_id in GRADED_IDS if REGISTRY[check_id].module == "metrics"]
    (ours(root / "syntax_error" / "assignment3") / "optim.py").write_text("def update(:\n")
    expected["syntax_error"] = (round(MAX_SCORE - sum(TABLE[i] for i in optim_ids), 2), optim_ids)
    (ours(root / "hangs") / "metrics.py").write_text("import time\ntime.sleep(600)\n")
    expected["hangs"] = (round(MAX_SCORE - sum(TABLE[i] for i in metrics_ids), 2), metrics_ids)
    hog = ours(root / "hog")
    (hog / "metrics.py").write_text(HOG)
    (hog / "optim.py").write_text((hog / "optim.py").read_text() + SCRIBBLER)
    expected["hog"] = expected["hangs"]
    top = ours(root / "zipped_source" / "my_solution")
    with zipfile.ZipFile(root / "zipped.zip", "w") as archive:
        for file in sorted(top.rglob("*")):
            archive.write(file, file.relative_to(root / "zipped_source"))
    shutil.rmtree(root / "zipped_source")
    expected["zipped"] = (MAX_SCORE, [])
    (root / "notes.txt").write_text("not a submission")
    return expected


def snapshot(folder):
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded at --jobs 2: (its folder, the expected grades, the run, the output folder)."""
    root = tmp_path_factory.mktemp("grading")
    expected = build_class(root / "class")
    before = snapshot(root / "class")
    result = grade("--grade", str(root / "class"), "--out", str(root / "out"), "--jobs", "2", "--timeout", "4",
                   "--only", *ONLY)
    assert snapshot(root / "class") == before  # a submission is never modified
    return root, expected, result, root / "out"


def test_every_student_gets_the_expected_grade(graded):
    _, expected, result, out = graded
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    students = {record["student"]: record for record in report["students"]}
    assert set(students) == set(expected)
    for student, (score, lost) in expected.items():
        record = students[student]
        assert (record["score"], record["max_score"]) == (score, MAX_SCORE), student
        assert sorted(entry["id"] for entry in record["checks"] if entry["earned"] == 0) == sorted(lost), student
    assert students["syntax_error"]["found_in"] == "assignment3"
    assert students["zipped"]["found_in"] == "my_solution"
    assert {entry["status"] for entry in students["hangs"]["checks"] if entry["module"] == "metrics"} == {"timeout"}
    hog_metrics = [entry for entry in students["hog"]["checks"] if entry["module"] == "metrics"]
    assert {entry["status"] for entry in hog_metrics} == {"error"} and "MemoryError" in hog_metrics[0]["message"]
    assert report["ignored"] == ["notes.txt"] and report["points"] == {i: TABLE[i] for i in GRADED_IDS}
    assert "0-10%" in result.stdout and "Checks failed most often" in result.stdout


def test_the_csv_and_the_feedback_say_the_same(graded):
    _, expected, _, out = graded
    with open(out / "grades.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0])[:5] == ["student", "score", "max_score", "optim", "metrics"]
    assert set(STATUSES) <= set(rows[0])
    assert [row["student"] for row in rows] == sorted(expected)
    for row in rows:
        score, lost = expected[row["student"]]
        assert (float(row["score"]), float(row["max_score"])) == (score, MAX_SCORE)
        assert float(row["optim"]) + float(row["metrics"]) == pytest.approx(score)
        assert sum(int(row[status]) for status in STATUSES) == len(GRADED_IDS)
        text = (out / "feedback" / f"{row['student']}.md").read_text()
        assert f"Score: {points.format_points(score)} / {points.format_points(MAX_SCORE)}" in text
        assert ("Every check passed." in text) == (not lost)
    mutant_text = (out / "feedback" / "mutant_momentum_ignored.md").read_text()
    assert "MomentumSGD.update.momentum_argument" in mutant_text and "Hint: MomentumSGD ignores" in mutant_text
    assert "Modules found in `assignment3/`" in (out / "feedback" / "syntax_error.md").read_text()


def test_one_job_grades_as_two_do_and_an_earlier_gradebook_is_kept(graded, tmp_path):
    root, _, _, out = graded
    subset = tmp_path / "subset"
    subset.mkdir()
    for name in ("mutant_momentum_ignored", "syntax_error", "zipped.zip"):
        (shutil.copytree if (root / "class" / name).is_dir() else shutil.copy)(root / "class" / name, subset / name)
    refused = grade("--grade", str(subset), "--out", str(out), "--only", *ONLY)
    assert refused.returncode == 2 and "not empty" in refused.stderr and len(refused.stderr.splitlines()) == 1
    result = grade("--grade", str(subset), "--out", str(tmp_path / "out"), "--jobs", "1", "--timeout", "4",
                   "--only", *ONLY)
    assert result.returncode == 0, result.stderr
    one = {record["student"]: record for record in json.loads((tmp_path / "out" / "report.json").read_text())
           ["students"]}
    two = {record["student"]: record for record in json.loads((out / "report.json").read_text())["students"]}
    for student, record in one.items():
        assert _without_times(record) == _without_times(two[student]), student


def _without_times(record):
    return {key: [{k: v for k, v in entry.items() if k != "seconds"} for entry in value] if key == "checks" else value
            for key, value in record.items() if key != "seconds"}


@pytest.mark.parametrize("arguments, message", [
    (["--grade", "no_such_folder", "--out", "x"], "SUBMISSIONS must be a folder"),
    (["--grade", "tests", "--out", "x", "tests"], "either PATH or --grade"),
    (["--grade", "docs"], "holds no folder and no .zip"),
    (["--grade", "tests", "--out", "y", "--jobs", "0"], "--jobs"),
    (["tests", "--out", "x"], "--out, --jobs and --overwrite go with --grade"),
    (["tests", "--jobs", "2"], "--out, --jobs and --overwrite go with --grade"),
    (["tests", "--autolab"], "--autolab needs --points"),
])
def test_a_bad_argument_is_one_line_and_exit_2(arguments, message):
    result = grade(*arguments)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1
    assert not os.path.exists(REPO / "x") and not os.path.exists(REPO / "y")


def test_the_default_table_shares_each_modules_weight_and_sums_to_100():
    assert round(sum(TABLE.values()) * 100) == 10000 and sum(points.MODULE_WEIGHTS.values()) == 100
    assert not any(REGISTRY[check_id].speed for check_id in TABLE)
    assert {check.id for check in REGISTRY.values() if not check.speed} == set(TABLE)
    for module, weight in points.MODULE_WEIGHTS.items():
        shares = [TABLE[check_id] for check_id in TABLE if REGISTRY[check_id].module == module]
        assert round(sum(shares) * 100) == weight * 100 and max(shares) - min(shares) <= 0.011


def test_a_points_file_gives_prefixes_their_share_and_ids_their_points(tmp_path):
    file = tmp_path / "points.toml"
    file.write_text('"MomentumSGD." = 9\nSGD.update.formula = 1.5\n"MomentumSGD.update.velocity" = 4\n')
    table = points.load_points(file, REGISTRY)
    assert table["SGD.update.formula"] == 1.5 and table["MomentumSGD.update.velocity"] == 4
    assert [table[f"MomentumSGD.{case}"] for case in ("update.momentum_argument", "init.default_momentum",
                                                      "update.per_instance")] == [3, 3, 3]
    assert sum(table.values()) == 14.5
    json_file = tmp_path / "points.json"
    json_file.write_text(json.dumps({"SGD.update.formula": 2}))
    assert points.load_points(json_file, REGISTRY)["SGD.update.formula"] == 2


@pytest.mark.parametrize("text, message", [
    ('{"NoSuchLayer.": 3}', "neither a check id nor the prefix"),
    ('{"MaxPoolingLayer.speed": 3}', "speed checks only"),
    ('{"SGD.update.formula": -1}', "must be a number >= 0"),
    ('[1, 2]', "must hold a table"),
    ('{"SGD.": ', "not valid JSON"),
])
def test_a_bad_points_file_is_refused(tmp_path, text, message):
    (tmp_path / "points.json").write_text(text)
    with pytest.raises((ValueError, TypeError), match=message):
        points.load_points(tmp_path / "points.json", REGISTRY)


def test_the_score_counts_pass_and_info_only():
    checks = [{"id": "SGD.update.formula", "module": "optim", "status": status} for status in STATUSES]
    grade_ = points.score(checks, {"SGD.update.formula": 1.25})
    assert grade_["score"] == 2.5 and grade_["max_score"] == 1.25 * len(STATUSES)
    assert [entry["earned"] for entry in checks] == [1.25 if status in ("pass", "info") else 0 for status in STATUSES]


def test_a_learner_sees_the_score_the_teacher_gives(graded, tmp_path):
    root, expected, _, _ = graded
    file = tmp_path / "points.json"
    file.write_text(json.dumps({check_id: TABLE[check_id] for check_id in GRADED_IDS}))
    result = grade(str(root / "class" / "mutant_momentum_ignored"), "--only", *ONLY, "--points", str(file))
    score = points.format_points(expected["mutant_momentum_ignored"][0])
    assert result.returncode == 1 and f"Score: {score} / {points.format_points(MAX_SCORE)}" in result.stdout


def test_autolab_gets_its_score_line_last(graded, tmp_path):
    root, expected, _, _ = graded
    file = tmp_path / "points.json"
    file.write_text(json.dumps({check_id: TABLE[check_id] for check_id in GRADED_IDS}))
    result = grade(str(root / "class" / "mutant_momentum_ignored"), "--only", *ONLY, "--points", str(file),
                   "--autolab")
    last = json.loads(result.stdout.splitlines()[-1])
    assert set(last) == {"scores", "scoreboard"} and set(last["scores"]) == set(ONLY)
    assert sum(last["scores"].values()) == pytest.approx(expected["mutant_momentum_ignored"][0])
    assert last["scoreboard"] == [pytest.approx(expected["mutant_momentum_ignored"][0])]


def test_run_autograder_writes_gradescopes_results_json(graded, tmp_path):
    root, expected, _, _ = graded
    result = grade("--gradescope-bundle", str(tmp_path / "autograder.zip"), "--only", *ONLY, "--timeout", "10")
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / "autograder.zip") as bundle:
        names = bundle.namelist()
        assert {"setup.sh", "run_autograder", "selfcheck/worker.py"} <= set(names)
        assert not any(name.startswith(("layers", "model", "tests/")) for name in names)
        bundle.extractall(tmp_path / "autograder" / "source")
    autograder = tmp_path / "autograder"
    for name in ("setup.sh", "run_autograder"):
        os.chmod(autograder / "source" / name, 0o755)
    assert "pip install --upgrade numpy scipy" in (autograder / "source" / "setup.sh").read_text()
    shutil.copy(autograder / "source" / "run_autograder", autograder / "run_autograder")
    shutil.copytree(root / "class" / "mutant_momentum_ignored", autograder / "submission")
    environment = {"PATH": os.environ["PATH"], "AUTOGRADER_ROOT": str(autograder), "PYTHON": sys.executable}
    run = subprocess.run([str(autograder / "run_autograder")], env=environment, cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    results = json.loads((autograder / "results" / "results.json").read_text())
    score, lost = expected["mutant_momentum_ignored"]
    assert results["score"] == score and isinstance(results["execution_time"], int)
    assert results["visibility"] == "visible" and "Score:" in results["output"]
    assert [test["name"] for test in results["tests"]] == [f"{REGISTRY[i].module}.py: {i}" for i in GRADED_IDS]
    for test, check_id in zip(results["tests"], GRADED_IDS):
        assert set(test) == {"name", "number", "score", "max_score", "status", "output", "visibility"}
        assert test["max_score"] == TABLE[check_id] and test["visibility"] == "visible"
        assert (test["status"], test["score"]) == (("failed", 0) if check_id in lost else ("passed", TABLE[check_id]))
        assert test["number"].count(".") == 1
    failed = next(test for test in results["tests"] if test["status"] == "failed")
    assert failed["output"].startswith("fail: ") and "\nHint: " in failed["output"]


RANDOM_MODEL = """
import numpy as np


class ConvNet:
    def __init__(self, input_shape, n_output_classes, conv1_channels, conv2_channels):
        self.loss = np.random.uniform(5, 50)  # as from weights of unit variance drawn from the global generator

    def compute_loss_and_gradients(self, X, y):
        return self.loss
"""


def test_a_check_of_a_model_drawing_from_the_global_generator_says_the_same_on_every_run(tmp_path):
    (tmp_path / "model.py").write_text(RANDOM_MODEL)
    reports = [check_solution.run(tmp_path, select=["ConvNet.init.initial_loss"]) for _ in range(2)]
    assert reports[0]["checks"][0]["status"] == "fail"
    assert reports[0]["checks"][0]["message"] == reports[1]["checks"][0]["message"]
