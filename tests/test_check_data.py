"""Tests of checks_data.py: every check passes on our metrics.py, dataset.py and gradient_check.py, fails with the
right message and hint on a copy of them with one known bug, finds the bugs of hand-written learner functions, and
reports `not implemented` on the template's stubs."""
import re
import shutil
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.io

import check_solution
import checks_data  # noqa: F401  (registers the checks)
import dataset
import gradient_check
import metrics
from checks_base import REGISTRY, CheckFailed, Info

REPO = Path(__file__).resolve().parent.parent
MODULES = ("metrics", "dataset", "gradient_check")
IDS = [check_id for check_id, entry in REGISTRY.items() if entry.function.__module__ == "checks_data"]
OURS = SimpleNamespace(metrics=metrics, dataset=dataset, gradient_check=gradient_check)

TEMPLATE = {
    "metrics.py": """
        def binary_classification_metrics(prediction, ground_truth):
            raise Exception("Not implemented!")

        def multiclass_accuracy(prediction, ground_truth):
            raise Exception("Not implemented!")
        """,
    "dataset.py": """
        def load_data_mat(filename, max_samples, seed=42):
            raise Exception("Not implemented!")

        def load_svhn(folder, max_train, max_test):
            raise Exception("Not implemented!")

        def random_split_train_val(X, y, num_val, seed=42):
            raise Exception("Not implemented!")
        """,
    "gradient_check.py": """
        def check_gradient(f, x, delta=1e-5, tol=1e-4):
            raise Exception("Not implemented!")

        def check_layer_gradient(layer, x, delta=1e-5, tol=1e-4):
            raise Exception("Not implemented!")

        def check_layer_param_gradient(layer, x, param_name, delta=1e-5, tol=1e-4):
            raise Exception("Not implemented!")

        def check_model_gradient(model, X, y, delta=1e-5, tol=1e-4):
            raise Exception("Not implemented!")
        """,
}


def run_check(check_id, **modules):
    """The check's outcome on our modules with `modules` (name -> SimpleNamespace of functions) in their place."""
    return REGISTRY[check_id].function(SimpleNamespace(**{**vars(OURS), **modules}))


def test_every_module_of_ours_has_checks():
    assert {REGISTRY[check_id].module for check_id in IDS} == set(MODULES)


@pytest.mark.parametrize("check_id", IDS)
def test_check_passes_on_our_modules_and_keeps_the_global_rng(check_id):
    before = np.random.get_state()
    assert run_check(check_id) is None
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2:] == after[2:]


# (file, our code, the bug put in its place, module, {check id: (status, hint key, message pattern)}); every
# other check of the module must still pass.
MUTANTS = [
    pytest.param("dataset.py", "    rng = check_rng(seed)\n    _check_exists(filename)",
                 "    np.random.seed(seed)\n    rng = np.random\n    _check_exists(filename)", "dataset",
                 {"load_data_mat.call.global_rng": ("fail", "global_rng_reseeded", r"np\.random\.seed\(5\)")},
                 id="load_data_mat_reseeds"),
    pytest.param("dataset.py", "    order = check_rng(seed).permutation(n)",
                 "    np.random.seed(seed)\n    order = np.random.permutation(n)", "dataset",
                 {"random_split_train_val.call.global_rng": ("fail", "global_rng_reseeded", r"reseeds")},
                 id="random_split_reseeds"),
    pytest.param("dataset.py", "labels = y.reshape(-1)[indices].astype(np.int64) % 10",
                 "labels = y.reshape(-1)[indices].astype(np.int64)", "dataset",
                 {"load_data_mat.call.labels": ("fail", None, "label 10 came back as 10")}, id="label_10_kept"),
    pytest.param("dataset.py", "np.moveaxis(X[..., indices], -1, 0)", "np.moveaxis(X[..., indices], -1, 0)"
                 ".transpose(0, 2, 1, 3)", "dataset",
                 {"load_data_mat.call.images": ("fail", "rows_columns_swapped", "none of the images of the file"),
                  "load_svhn.call.files": ("fail", "rows_columns_swapped", "train_32x32.mat")},
                 id="images_transposed"),
    pytest.param("dataset.py", "replace=False", "replace=True", "dataset",
                 {"load_data_mat.call.distinct_samples": ("fail", None, "without replacement")},
                 id="drawn_with_replacement"),
    pytest.param("gradient_check.py", "    analytic = np.array(analytic, dtype=np.float64)\n",
                 "    analytic = np.array(analytic, dtype=np.float64)\n    assert analytic.dtype == np.float\n",
                 "gradient_check",
                 {check_id: ("error", "np_float_removed", "AttributeError")
                  for check_id in IDS if REGISTRY[check_id].module == "gradient_check"},
                 id="np_float"),
    pytest.param("gradient_check.py", "bad = ~(np.abs(analytic - numeric) <= bound)",
                 "bad = np.zeros(analytic.shape, dtype=bool)", "gradient_check",
                 {check_id: ("fail", None, "returned True on a wrong gradient")
                  for check_id in IDS if check_id.endswith(".wrong_gradient")}, id="checker_always_true"),
    pytest.param("metrics.py", "return accuracy, precision, recall, f1", "return accuracy, recall, precision, f1",
                 "metrics", {"binary_classification_metrics.call.formulas": ("fail", None, "swapped")},
                 id="precision_recall_swapped"),
    pytest.param("metrics.py", "accuracy = _ratio(np.count_nonzero(prediction == ground_truth), prediction.shape[0])",
                 "accuracy = _ratio(true_positives, prediction.shape[0])", "metrics",
                 {f"binary_classification_metrics.call.{case}": ("fail", None, "accuracy expected")
                  for case in ("formulas", "no_predicted_positive", "no_actual_positive", "all_correct")},
                 id="accuracy_true_positives_only"),
    pytest.param("metrics.py", "return _ratio(np.count_nonzero(prediction == ground_truth), prediction.shape[0])",
                 "return float(np.count_nonzero(prediction == ground_truth))", "metrics",
                 {"multiclass_accuracy.call.random": ("fail", None, "got their count")}, id="accuracy_as_count"),
]


@pytest.mark.parametrize("file, original, bug, module, failing", MUTANTS)
def test_mutant_fails_the_right_check_with_its_hint(tmp_path, file, original, bug, module, failing):
    for path in REPO.glob("*.py"):
        shutil.copy(path, tmp_path)
    text = (tmp_path / file).read_text()
    assert text.count(original) == 1, f"{file} changed: update this mutant"
    (tmp_path / file).write_text(text.replace(original, bug))
    checks = {entry["id"]: entry for entry in check_solution.run(str(tmp_path), only=[module])["checks"]}
    assert set(checks) == {check_id for check_id in IDS if REGISTRY[check_id].module == module}
    for check_id, entry in checks.items():
        if check_id in failing:
            status, hint_key, pattern = failing[check_id]
            assert (entry["status"], entry["hint_key"]) == (status, hint_key), entry
            assert re.search(pattern, entry["message"]), entry
        else:
            assert entry["status"] == "pass", entry


def test_template_stubs_are_not_implemented(tmp_path):
    for name, text in TEMPLATE.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    report = check_solution.run(str(tmp_path), only=list(MODULES))
    statuses = {entry["id"]: entry["status"] for entry in report["checks"]}
    assert statuses == {check_id: "not implemented" for check_id in IDS}
