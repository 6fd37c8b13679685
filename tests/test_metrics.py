"""metrics.py: hand-counted confusion matrices, undefined ratios, bad input."""
import numpy as np
import pytest

from metrics import binary_classification_metrics, confusion_counts, multiclass_accuracy


@pytest.mark.parametrize("convert", [np.array, lambda values: np.array(values, dtype=bool), list,
                                     lambda values: np.array(values, dtype=np.float32)])
def test_binary_metrics_by_hand(convert):
    # tp = 2 (samples 0, 4), fp = 1 (sample 1), fn = 1 (sample 3), tn = 1 (sample 2)
    prediction, ground_truth = convert([1, 1, 0, 0, 1]), convert([1, 0, 0, 1, 1])
    accuracy, precision, recall, f1 = binary_classification_metrics(prediction, ground_truth)
    assert accuracy == pytest.approx(3 / 5)
    assert precision == pytest.approx(2 / 3)
    assert recall == pytest.approx(2 / 3)
    assert f1 == pytest.approx(2 / 3)


def test_binary_metrics_f1_is_harmonic_mean():
    # tp = 1, fp = 3, fn = 0: precision 1/4, recall 1
    _, precision, recall, f1 = binary_classification_metrics([1, 1, 1, 1], [1, 0, 0, 0])
    assert (precision, recall) == (0.25, 1.0)
    assert f1 == pytest.approx(2 * 0.25 * 1.0 / 1.25)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("prediction, ground_truth, expected", [
    ([0, 0, 0], [0, 1, 0], (2 / 3, 0.0, 0.0, 0.0)),  # no positive prediction: precision undefined
    ([0, 0, 0], [0, 0, 0], (1.0, 0.0, 0.0, 0.0)),  # no positive at all
    ([1, 0, 1], [0, 1, 0], (0.0, 0.0, 0.0, 0.0)),  # tp = 0: f1 undefined
    ([1, 0, 1], [1, 0, 1], (1.0, 1.0, 1.0, 1.0)),
    ([], [], (0.0, 0.0, 0.0, 0.0)),
])
def test_binary_metrics_zero_where_undefined(prediction, ground_truth, expected):
    result = binary_classification_metrics(np.array(prediction, dtype=int), np.array(ground_truth, dtype=int))
    assert result == pytest.approx(expected)
    assert all(type(value) is float for value in result)


def test_multiclass_accuracy():
    assert multiclass_accuracy(np.array([0, 1, 2, 3]), np.array([0, 1, 1, 3])) == 0.75
    assert multiclass_accuracy(np.array([2.0, 5.0]), np.array([2, 4])) == 0.5
    assert type(multiclass_accuracy(np.array([1]), np.array([1]))) is float


@pytest.mark.filterwarnings("error")
def test_multiclass_accuracy_of_nothing_is_zero():
    assert multiclass_accuracy(np.array([], dtype=int), np.array([], dtype=int)) == 0.0


@pytest.mark.parametrize("function, prediction, ground_truth, error, match", [
    (binary_classification_metrics, [1, 0], [1, 0, 1], ValueError, "same length, got 2 and 3"),
    (binary_classification_metrics, [[1, 0]], [[1, 0]], ValueError, r"`prediction` must be 1-D"),
    (binary_classification_metrics, [1, 2], [1, 0], ValueError, r"`prediction` must hold only 0/1.*got 2"),
    (binary_classification_metrics, [1, 0], [0.5, 1], ValueError, r"`ground_truth` must hold only 0/1"),
    (binary_classification_metrics, ["a", "b"], [1, 0], TypeError, r"`prediction` must hold booleans"),
    (multiclass_accuracy, [1, 0], [1], ValueError, "same length, got 2 and 1"),
    (multiclass_accuracy, [1, 0], [[1, 0]], ValueError, r"`ground_truth` must be 1-D"),
    (multiclass_accuracy, [1.5, 0], [1, 0], ValueError, r"`prediction` must hold whole-number.*1.5"),
    (multiclass_accuracy, [np.nan, 0], [1, 0], ValueError, r"`prediction` must hold whole-number"),
    (multiclass_accuracy, ["1", "0"], [1, 0], TypeError, r"`prediction` must hold integer class indices"),
])
def test_bad_input(function, prediction, ground_truth, error, match):
    with pytest.raises(error, match=match):
        function(np.array(prediction), np.array(ground_truth))


def test_confusion_counts():
    counts = confusion_counts([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], n_classes=3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_confusion_counts_refuses_labels_out_of_range():
    with pytest.raises(ValueError, match=r"`pred` must hold class indices in \[0, 3\), got 3"):
        confusion_counts([0, 1], [0, 3], n_classes=3)
