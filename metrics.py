"""Classification metrics on 1-D arrays of predicted and true labels.

A ratio whose denominator is zero (precision with no positive prediction, recall with no positive sample, any
metric of empty input) is 0, without a division-by-zero warning.
"""
import numpy as np

from validation import check_int, check_labels


def binary_classification_metrics(prediction, ground_truth):
    """Accuracy, precision, recall and F1 of binary predictions, the positive class being True (1).

    Parameters
    ----------
    prediction : bool or 0/1 array of shape (n_samples,)
    ground_truth : bool or 0/1 array of shape (n_samples,)

    Returns
    -------
    accuracy, precision, recall, f1 : float
        `precision = tp / (tp + fp)`, `recall = tp / (tp + fn)`,
        `f1 = 2 * precision * recall / (precision + recall)`; 0 where the denominator is 0.
    """
    prediction = _check_binary(prediction, "prediction")
    ground_truth = _check_binary(ground_truth, "ground_truth")
    _check_same_length(prediction, ground_truth)

    true_positives = int(np.count_nonzero(prediction & ground_truth))
    accuracy = _ratio(np.count_nonzero(prediction == ground_truth), prediction.shape[0])
    precision = _ratio(true_positives, np.count_nonzero(prediction))
    recall = _ratio(true_positives, np.count_nonzero(ground_truth))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return accuracy, precision, recall, f1


def multiclass_accuracy(prediction, ground_truth):
    """Fraction of samples whose predicted class is the true one.

    Parameters
    ----------
    prediction : int array of shape (n_samples,)
        Predicted class indices.
    ground_truth : int array of shape (n_samples,)
        True class indices.

    Returns
    -------
    float in [0, 1]; 0 for empty input
    """
    prediction = _check_classes(prediction, "prediction")
    ground_truth = _check_classes(ground_truth, "ground_truth")
    _check_same_length(prediction, ground_truth)
    return _ratio(np.count_nonzero(prediction == ground_truth), prediction.shape[0])


def confusion_counts(true, pred, n_classes=10):
    """How often each true class was predicted as each class.

    Parameters
    ----------
    true, pred : int arrays of shape (n_samples,), class indices in [0, n_classes)
    n_classes : int

    Returns
    -------
    ndarray of shape (n_classes, n_classes), int64
        `counts[i, j]`: samples of true class i predicted as j; the diagonal holds the correct ones.
    """
    n_classes = check_int(n_classes, "n_classes", 1)
    true = check_labels(true, "true", n_classes)
    pred = check_labels(pred, "pred", n_classes, length=true.shape[0])
    return np.bincount(true * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(numerator, denominator):
    return float(numerator) / float(denominator) if denominator else 0.0


def _check_1d(values, name):
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D (n_samples,), got shape {values.shape}")
    return values


def _check_binary(values, name):
    """Return `values` as a 1-D bool array, accepting bools and numbers that are all 0 or 1."""
    values = _check_1d(values, name)
    if values.dtype == np.bool_:
        return values
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        raise TypeError(f"`{name}` must hold booleans or 0/1 numbers, got dtype {values.dtype}")
    not_binary = (values != 0) & (values != 1)
    if np.any(not_binary):
        raise ValueError(f"`{name}` must hold only 0/1 (or True/False), got {values[not_binary][0]}")
    return values == 1


def _check_classes(values, name):
    """Return `values` as a 1-D integer array, accepting floats that are whole numbers."""
    values = _check_1d(values, name)
    if np.issubdtype(values.dtype, np.integer):
        return values
    if not np.issubdtype(values.dtype, np.floating):
        raise TypeError(f"`{name}` must hold integer class indices, got dtype {values.dtype}")
    fractional = ~np.isfinite(values) | (values != np.round(values))
    if np.any(fractional):
        raise ValueError(f"`{name}` must hold whole-number class indices, got {values[fractional][0]}")
    return values.astype(np.int64)


def _check_same_length(prediction, ground_truth):
    if prediction.shape[0] != ground_truth.shape[0]:
        raise ValueError(f"`prediction` and `ground_truth` must have the same length, "
                         f"got {prediction.shape[0]} and {ground_truth.shape[0]}")
