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


# Hand-written learner functions with bugs no textual mutant of ours expresses.
def nan_metrics(prediction, ground_truth):
    """The straightforward formulas in numpy: NaN for every 0/0."""
    tp = np.sum(prediction & ground_truth)
    with np.errstate(invalid="ignore"):
        precision, recall = tp / np.sum(prediction), tp / np.sum(ground_truth)
        f1 = 2 * precision * recall / (precision + recall)
    return np.mean(prediction == ground_truth), precision, recall, f1


def assignment1_order_metrics(prediction, ground_truth):
    accuracy, precision, recall, f1 = metrics.binary_classification_metrics(prediction, ground_truth)
    return precision, recall, f1, accuracy


def vacuous_precision_metrics(prediction, ground_truth):
    """Precision 1 when nothing is predicted positive (no false positive): a consistent convention."""
    accuracy, precision, recall, f1 = metrics.binary_classification_metrics(prediction, ground_truth)
    return accuracy, (precision if prediction.any() else 1.0), recall, f1


@pytest.mark.parametrize("function, case, expected", [
    pytest.param(nan_metrics, "formulas", None, id="nan_formulas"),
    pytest.param(nan_metrics, "no_predicted_positive", "precision and f1 NaN on 5 samples: TP 0, FP 0, FN 2",
                 id="nan_no_predicted_positive"),
    pytest.param(nan_metrics, "no_actual_positive", "recall and f1 NaN", id="nan_no_actual_positive"),
    pytest.param(vacuous_precision_metrics, "no_predicted_positive", None, id="vacuous_precision"),
])
def test_binary_metrics_0_over_0_passes_or_is_info(function, case, expected):
    outcome = run_check(f"binary_classification_metrics.call.{case}",
                        metrics=SimpleNamespace(binary_classification_metrics=function))
    if expected is None:
        assert outcome is None
    else:
        assert isinstance(outcome, Info) and outcome.message.startswith(expected)


@pytest.mark.parametrize("function, case, message", [
    pytest.param(nan_metrics, "all_wrong", r"f1 is NaN, but F1 = 2 TP / \(2 TP \+ FP \+ FN\) = 0 here",
                 id="nan_f1_all_wrong"),
    pytest.param(assignment1_order_metrics, "formulas", r"assignment 1's order \(precision, recall, f1, accuracy\)",
                 id="assignment1_order"),
    pytest.param(lambda p, t: (0.6, -1.0, 0.0, 0.0), "no_predicted_positive",
                 r"precision is 0/0 here and may be any value in \[0, 1\] \(ours is 0\), got -1", id="out_of_range"),
    pytest.param(lambda p, t: {"accuracy": 1.0}, "all_correct",
                 r"must return \(accuracy, precision, recall, f1\), got dict", id="dict"),
    pytest.param(lambda p, t: (1.0, 1.0, [1.0], 1.0), "all_correct", r"recall must be a number, got list",
                 id="list_value"),
])
def test_binary_metrics_failures(function, case, message):
    with pytest.raises(CheckFailed, match=message):
        run_check(f"binary_classification_metrics.call.{case}",
                  metrics=SimpleNamespace(binary_classification_metrics=function))


def test_multiclass_accuracy_must_be_a_number():
    with pytest.raises(CheckFailed, match=r"must return a number, got ndarray"):
        run_check("multiclass_accuracy.call.batch_of_one",
                  metrics=SimpleNamespace(multiclass_accuracy=lambda p, t: (p == t).astype(float)))


def unseeded_load_data_mat(filename, max_samples, seed=42):
    """Draws its subset from the global RNG without seeding it."""
    raw = scipy.io.loadmat(filename)
    X, y = np.moveaxis(raw["X"], 3, 0), raw["y"].reshape(-1) % 10
    samples = np.random.choice(X.shape[0], max_samples, replace=False)
    return X[samples].astype(np.float32), y[samples]


def reshaped_load_data_mat(filename, max_samples, seed=42):
    """Reshapes SVHN's (32, 32, 3, n) into (n, 32, 32, 3) instead of moving the axis: images mixed up."""
    raw = scipy.io.loadmat(filename)
    X = raw["X"].reshape(-1, 32, 32, 3).astype(np.float32)
    samples = np.random.default_rng(seed).choice(X.shape[0], max_samples, replace=False)
    return X[samples], (raw["y"].reshape(-1) % 10)[samples]


def swapped_load_svhn(folder, max_train, max_test):
    test_X, test_y, train_X, train_y = dataset.load_svhn(folder, max_test, max_train)
    return train_X[:max_train], train_y[:max_train], test_X[:max_test], test_y[:max_test]


def unpaired_split(X, y, num_val, seed=42):
    """Shuffles X and y with different orders."""
    rng = np.random.default_rng(seed)
    X, y = X[rng.permutation(len(X))], y[rng.permutation(len(y))]
    return X[num_val:], y[num_val:], X[:num_val], y[:num_val]


@pytest.mark.parametrize("check_id, module, message, hint", [
    pytest.param("load_data_mat.call.global_rng", SimpleNamespace(load_data_mat=unseeded_load_data_mat),
                 r"changed numpy's global random state \(it draws from np.random\)", None, id="unseeded_global_rng"),
    pytest.param("load_data_mat.call.seed_reproducible", SimpleNamespace(load_data_mat=unseeded_load_data_mat),
                 r"two calls with seed=7 returned different samples", None, id="unseeded_reproducible"),
    pytest.param("load_data_mat.call.images", SimpleNamespace(load_data_mat=reshaped_load_data_mat),
                 r"returned image 0 is none of the images of the file: .*np.moveaxis\(X, 3, 0\)", None,
                 id="reshaped_images"),
    pytest.param("load_data_mat.call.shapes", SimpleNamespace(load_data_mat=lambda f, n, seed=42: (
                 np.zeros((32, 32, 3, n)), np.zeros(n, int))),
                 r"X of load_data_mat\(a file of 12 images, 5\): expected an array of numbers of shape "
                 r"\(5, 32, 32, 3\), got float64 \(32, 32, 3, 5\)", None, id="svhn_layout_kept"),
    pytest.param("load_svhn.call.files", SimpleNamespace(load_svhn=swapped_load_svhn),
                 r"returned image 0 is none of the images of train_32x32.mat", None, id="files_swapped"),
    pytest.param("random_split_train_val.call.partition", SimpleNamespace(random_split_train_val=unpaired_split),
                 r"train_X\[i\] must be the sample whose label is train_y\[i\]", None, id="split_unpaired"),
])
def test_dataset_failures(check_id, module, message, hint):
    before = np.random.get_state()
    with pytest.raises(CheckFailed, match=message) as failure:
        run_check(check_id, dataset=module)
    assert failure.value.hint == hint
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2:] == after[2:]


def test_labels_of_mixed_up_images_are_compared_as_a_whole():
    assert run_check("load_data_mat.call.labels",
                     dataset=SimpleNamespace(load_data_mat=reshaped_load_data_mat)) is None


def learner_check_gradient(f, x, delta=1e-5, tol=1e-4, first_only=False, in_place=False, leave_shifted=False,
                           result=True):
    """A learner's check_gradient: perturbs x in place (`in_place`), forgets to restore it (`leave_shifted`),
    compares only the first entry (`first_only`), or returns None instead of its verdict (`result` False)."""
    _, analytic = f(x)
    analytic = analytic.copy()
    for index in list(np.ndindex(x.shape))[:1 if first_only else None]:
        if in_place:
            x[index] += delta
            plus = f(x)[0]
            x[index] -= 2 * delta
            minus = f(x)[0]
            x[index] += 0 if leave_shifted else delta
        else:
            shifted = x.copy()
            shifted[index] += delta
            plus = f(shifted)[0]
            shifted[index] -= 2 * delta
            minus = f(shifted)[0]
        if not np.isclose((plus - minus) / (2 * delta), analytic[index], tol):
            return False if result else None
    return True if result else None


@pytest.mark.parametrize("check_id, options, message", [
    pytest.param("check_gradient.call.wrong_gradient", {"first_only": True},
                 r"check_gradient returned True on a wrong gradient: it must compare every entry \(input: "
                 r"f\(x\) = sum\(x \*\* 2\), gradient 2 x but its last entry 1 too large, x of shape \(3,\)",
                 id="first_entry_only"),
    pytest.param("check_gradient.call.correct_gradient", {"result": False},
                 r"check_gradient must return True or False, got NoneType None", id="returns_none"),
    pytest.param("check_gradient.call.x_unchanged", {"in_place": True, "leave_shifted": True},
                 r"check_gradient changed x: 6 of 6 values differ afterwards", id="x_left_shifted"),
])
def test_check_gradient_failures(check_id, options, message):
    def check_gradient(f, x, delta=1e-5, tol=1e-4):
        return learner_check_gradient(f, x, delta, tol, **options)
    with pytest.raises(CheckFailed, match=message):
        run_check(check_id, gradient_check=SimpleNamespace(check_gradient=check_gradient))


def test_check_gradient_that_changes_x_by_rounding_is_info():
    def check_gradient(f, x, delta=1e-5, tol=1e-4):
        return learner_check_gradient(f, x, delta, tol, in_place=True)
    outcome = run_check("check_gradient.call.x_unchanged",
                        gradient_check=SimpleNamespace(check_gradient=check_gradient))
    assert isinstance(outcome, Info) and outcome.message.startswith("x changed by rounding only")


def test_model_checker_that_checks_the_first_parameter_only_fails():
    def check_model_gradient(model, X, y, delta=1e-5, tol=1e-4):
        param = next(iter(model.params().values()))

        def value_and_grad(value):
            param.value = value
            loss = model.compute_loss_and_gradients(X, y)
            return loss, param.grad.copy()
        return gradient_check.check_gradient(value_and_grad, param.value.copy(), delta, tol)

    with pytest.raises(CheckFailed, match=r"check_model_gradient returned True on a wrong gradient"):
        run_check("check_model_gradient.call.wrong_gradient",
                  gradient_check=SimpleNamespace(check_model_gradient=check_model_gradient))


def _metrics_in_order(order):
    """A learner's binary_classification_metrics returning (accuracy, precision, recall, f1) in `order`, 0 for
    0/0."""
    def metric(prediction, truth):
        tp = int(np.sum(prediction & truth))
        fp, fn = int(np.sum(prediction & ~truth)), int(np.sum(~prediction & truth))
        values = {"accuracy": float(np.mean(prediction == truth)),
                  "precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
                  "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0}
        return tuple(values[name] for name in order)
    return SimpleNamespace(metrics=SimpleNamespace(binary_classification_metrics=metric))


@pytest.mark.parametrize("order", [("precision", "recall", "f1", "accuracy"),
                                   ("precision", "recall", "accuracy", "f1")])
def test_an_unusual_order_is_named_once_and_the_edge_cases_judge_the_values(order):
    with pytest.raises(CheckFailed, match=r"the values come in .*order"):
        REGISTRY["binary_classification_metrics.call.formulas"].function(_metrics_in_order(order))
    for case in ("no_predicted_positive", "no_actual_positive", "all_correct", "all_wrong"):
        assert REGISTRY[f"binary_classification_metrics.call.{case}"].function(_metrics_in_order(order)) is None
