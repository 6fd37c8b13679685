"""Tests of checks_metrics.py: every check passes on our metrics.py, fails with the right message on a copy of it
with one known bug, finds the bugs of hand-written learner functions, and reports `not implemented` on the
template's stubs."""
from types import SimpleNamespace

import numpy as np
import pytest
from check_harness import check_runner, module_tests
from mutants import appended

import check_solution
import metrics
from selfcheck.base import REGISTRY, CheckFailed, Info
from selfcheck.checks import metrics as checks_metrics

run_check = check_runner(metrics=metrics)

TEMPLATE = {
    "metrics.py": """
        def binary_classification_metrics(prediction, ground_truth):
            raise Exception("Not implemented!")

        def multiclass_accuracy(prediction, ground_truth):
            raise Exception("Not implemented!")
        """,
}


# (file, our code, the bug put in its place, module, {check id: (status, hint key, message pattern)}); every
# other check of the module must still pass.
MUTANTS = [
    pytest.param("metrics.py", appended("""
        _metrics = binary_classification_metrics


        def binary_classification_metrics(prediction, ground_truth):
            accuracy, precision, recall, f1 = _metrics(prediction, ground_truth)
            return accuracy, recall, precision, f1
        """), "metrics", {"binary_classification_metrics.call.formulas": ("fail", None, "swapped")},
                 id="precision_recall_swapped"),
    pytest.param("metrics.py", appended("""
        _metrics = binary_classification_metrics


        def binary_classification_metrics(prediction, ground_truth):
            _, precision, recall, f1 = _metrics(prediction, ground_truth)
            true_positives = np.count_nonzero(np.logical_and(prediction, ground_truth))
            return true_positives / len(prediction), precision, recall, f1
        """), "metrics",
                 {f"binary_classification_metrics.call.{case}": ("fail", None, "accuracy expected")
                  for case in ("formulas", "no_predicted_positive", "no_actual_positive", "all_correct")},
                 id="accuracy_true_positives_only"),
    pytest.param("metrics.py", appended("""
        _accuracy = multiclass_accuracy


        def multiclass_accuracy(prediction, ground_truth):
            return float(round(_accuracy(prediction, ground_truth) * len(prediction)))
        """), "metrics", {"multiclass_accuracy.call.random": ("fail", None, "got their count")},
                 id="accuracy_as_count"),
]


(test_every_module_of_ours_has_checks, test_check_passes_on_our_modules_and_keeps_the_global_rng,
 test_mutant_fails_the_right_check_with_its_hint, test_template_stubs_are_not_implemented) = module_tests(
    "metrics", checks_metrics, run_check, MUTANTS, TEMPLATE)


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


def test_an_exception_on_an_undefined_ratio_says_what_the_assignment_allows():
    def metric(prediction, ground_truth):
        tp, fp = int(np.sum(prediction & ground_truth)), int(np.sum(prediction & ~ground_truth))
        precision = tp / (tp + fp)  # raises on 0/0
        return 0.0, precision, 0.0, 0.0
    with pytest.raises(ZeroDivisionError) as error:
        run_check("binary_classification_metrics.call.no_predicted_positive",
                  metrics=SimpleNamespace(binary_classification_metrics=metric))
    assert error.value.check_input.endswith("precision 0/0 here, which the assignment leaves open: 0 (ours) or NaN, "
                                            "not an exception")


ZERO_STUBS = """
def binary_classification_metrics(prediction, ground_truth):
    precision = 0
    recall = 0
    accuracy = 0
    f1 = 0

    # TODO: implement metrics!
    return precision, recall, f1, accuracy


def multiclass_accuracy(prediction, ground_truth):
    # TODO: Implement computing accuracy
    return 0
"""


def test_the_course_templates_zero_returning_stubs_are_not_implemented(tmp_path):
    (tmp_path / "metrics.py").write_text(ZERO_STUBS)
    report = check_solution.run(str(tmp_path), only=["metrics"])
    assert {entry["status"] for entry in report["checks"]} == {"not implemented"}
    assert all(entry["message"].endswith("whatever the input (every prediction right included): the template's "
                                         "unfilled stub") for entry in report["checks"])


def test_an_accuracy_that_is_zero_only_when_all_is_wrong_is_judged():
    accuracy = SimpleNamespace(multiclass_accuracy=lambda prediction, truth: float(np.mean(prediction == truth)))
    assert run_check("multiclass_accuracy.call.all_wrong", metrics=accuracy) is None


def test_assignment_1s_order_with_one_wrong_value_names_both():
    """A public solution: (precision, recall, f1, accuracy) with f1 = P * R / (P + R), the 2 forgotten."""
    def metric(prediction, truth):
        tp, fp = int(np.sum(prediction & truth)), int(np.sum(prediction & ~truth))
        fn = int(np.sum(~prediction & truth))
        precision, recall = tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0
        f1 = precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1, float(np.mean(prediction == truth))
    module = SimpleNamespace(binary_classification_metrics=metric)
    with pytest.raises(CheckFailed, match=r"the values come in the order \(precision, recall, f1, accuracy\); .*; "
                                          r"and f1 expected 0\.5, got 0\.25 \(input"):
        run_check("binary_classification_metrics.call.formulas", metrics=module)
    with pytest.raises(CheckFailed, match=r"^f1 expected 1, got 0\.5"):
        run_check("binary_classification_metrics.call.all_correct", metrics=module)
    assert run_check("binary_classification_metrics.call.no_actual_positive", metrics=module) is None


def test_an_f1_that_divides_by_zero_when_all_is_wrong_is_told_f1_is_0():
    def metric(prediction, truth):
        tp, fp = int(np.sum(prediction & truth)), int(np.sum(prediction & ~truth))
        fn = int(np.sum(~prediction & truth))
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        return float(np.mean(prediction == truth)), precision, recall, 2 / (1 / recall + 1 / precision)
    with pytest.raises(ZeroDivisionError) as error:
        run_check("binary_classification_metrics.call.all_wrong",
                  metrics=SimpleNamespace(binary_classification_metrics=metric))
    assert error.value.check_input.endswith("F1 = 2 TP / (2 TP + FP + FN) = 0: return 0")
