"""Checks of the learner's metrics.py: every value against its formula on cases where precision and recall differ,
and the edge cases.

A ratio whose denominator is zero (precision with nothing predicted positive, recall with no positive sample) is not
defined by the assignment: any value in [0, 1] passes (ours and scikit-learn's is 0); NaN there is reported as
`info`. Values that are defined (accuracy always; F1 = 2 TP / (2 TP + FP + FN) whenever precision and recall are
both defined) must be right: NaN there fails.
"""
import itertools

import numpy as np

from selfcheck.base import CheckFailed, Info, Unimplemented, check, on_input
from selfcheck.tools import short

_METRIC_NAMES = ("accuracy", "precision", "recall", "f1")


@check("binary_classification_metrics.call.formulas", needs=("metrics.binary_classification_metrics",),
       description="accuracy, precision, recall and F1 equal their formulas where precision and recall differ")
def _binary_formulas(modules):
    _refuse_binary_stub(modules)
    for counts in ((2, 1, 3, 1), (6, 2, 9, 4)):
        prediction, truth = _binary_case(*counts)
        with on_input(_describe_counts(counts)):
            got = _binary_result(modules.metrics.binary_classification_metrics(prediction, truth), counts)
        expected = _binary_expected(*counts)
        if not np.allclose(got, expected, rtol=1e-9, atol=1e-12):
            raise CheckFailed(_binary_mismatch(got, expected, counts))


# The edge cases of binary_classification_metrics, one check each: (check id, counts (TP, FP, FN, TN), description).
_BINARY_EDGE_CASES = (
    ("binary_classification_metrics.call.no_predicted_positive", (0, 0, 2, 3),
     "no crash when nothing is predicted positive; precision (0/0) in [0, 1], the others exact"),
    ("binary_classification_metrics.call.no_actual_positive", (0, 2, 0, 3),
     "no crash when no sample is positive; recall (0/0) in [0, 1], the others exact"),
    ("binary_classification_metrics.call.all_correct", (3, 0, 0, 2),
     "every prediction right: accuracy, precision, recall and F1 all 1"),
    ("binary_classification_metrics.call.all_wrong", (0, 2, 3, 0),
     "every prediction wrong: accuracy, precision, recall and F1 all 0, no NaN"),
)


def _register_binary_edge_case(check_id, counts, description):
    @check(check_id, needs=("metrics.binary_classification_metrics",), description=description)
    def edge_case(modules):
        _refuse_binary_stub(modules)
        return _binary_edge_case(modules, counts)


for _edge_case in _BINARY_EDGE_CASES:
    _register_binary_edge_case(*_edge_case)


@check("multiclass_accuracy.call.random", needs=("metrics.multiclass_accuracy",),
       description="the fraction of right predictions on random int labels 0..9")
def _multiclass_random(modules):
    _refuse_accuracy_stub(modules)
    rng = np.random.default_rng(12)
    for n in (7, 30):
        truth = rng.integers(0, 10, n)
        prediction = np.where(rng.random(n) < 0.5, truth, (truth + rng.integers(1, 10, n)) % 10)
        _check_accuracy(modules, prediction, truth)


@check("multiclass_accuracy.call.batch_of_one", needs=("metrics.multiclass_accuracy",),
       description="one sample: 1.0 when right, 0.0 when wrong")
def _multiclass_batch_of_one(modules):
    _refuse_accuracy_stub(modules)
    _check_accuracy(modules, np.array([3]), np.array([3]))
    _check_accuracy(modules, np.array([3]), np.array([5]))


@check("multiclass_accuracy.call.all_wrong", needs=("metrics.multiclass_accuracy",),
       description="every prediction wrong: 0.0")
def _multiclass_all_wrong(modules):
    _refuse_accuracy_stub(modules)
    truth = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    _check_accuracy(modules, (truth + 1) % 10, truth)


def _refuse_binary_stub(modules):
    """Unimplemented when binary_classification_metrics returns four zeros both when every prediction is right and on
    a mixed case: the template's unfilled stub (`precision = recall = accuracy = f1 = 0`)."""
    results = []
    for counts in ((3, 0, 0, 2), (2, 1, 3, 1)):
        with on_input(_describe_counts(counts)):
            results.append(modules.metrics.binary_classification_metrics(*_binary_case(*counts)))
    if all(isinstance(result, (tuple, list)) and len(result) == 4 and all(_is_zero(value) for value in result)
           for result in results):
        raise Unimplemented(f"binary_classification_metrics returns {short(results[0])} whatever the input (every "
                            f"prediction right included): the template's unfilled stub")


def _refuse_accuracy_stub(modules):
    """Unimplemented when multiclass_accuracy returns 0 both when every prediction is right and when half are."""
    truth = np.array([1, 2, 3, 4])
    with on_input("4 samples, all right, then 2 right"):
        results = [modules.metrics.multiclass_accuracy(truth.copy(), truth),
                   modules.metrics.multiclass_accuracy(np.array([1, 2, 0, 0]), truth)]
    if all(_is_zero(result) for result in results):
        raise Unimplemented(f"multiclass_accuracy returns {short(results[0])} whatever the input (every prediction "
                            f"right included): the template's unfilled stub")


def _is_zero(value):
    return _is_real_scalar(value) and float(value) == 0


def _binary_case(tp, fp, fn, tn):
    """Bool arrays (prediction, ground_truth) of shape (tp + fp + fn + tn,) with those counts, in a fixed order."""
    prediction = np.array([True] * (tp + fp) + [False] * (fn + tn))
    truth = np.array([True] * tp + [False] * fp + [True] * fn + [False] * tn)
    order = np.random.default_rng(tp * 1000 + fp * 100 + fn * 10 + tn).permutation(prediction.size)
    return prediction[order], truth[order]


def _binary_expected(tp, fp, fn, tn):
    """(accuracy, precision, recall, f1) with None where the assignment leaves the value undefined (0/0)."""
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else None
    return (tp + tn) / (tp + fp + fn + tn), precision, recall, f1


def _describe_counts(counts):
    tp, fp, fn, tn = counts
    return f"{sum(counts)} samples: TP {tp}, FP {fp}, FN {fn}, TN {tn}"


def _binary_result(result, counts):
    """The learner's four values as floats, or CheckFailed when the result is not four numbers."""
    if not isinstance(result, (tuple, list)) or len(result) != 4:
        raise CheckFailed(f"binary_classification_metrics must return (accuracy, precision, recall, f1), got "
                          f"{short(result)} (input: {_describe_counts(counts)})")
    for name, value in zip(_METRIC_NAMES, result):
        if not _is_real_scalar(value):
            raise CheckFailed(f"{name} must be a number, got {short(value)} (input: {_describe_counts(counts)})")
    return [float(value) for value in result]


def _binary_mismatch(got, expected, counts):
    """The message for values that differ from the formulas, naming a swap or the order of assignment 1."""
    accuracy, precision, recall, f1 = expected
    case = _describe_counts(counts)
    if np.allclose(got, (accuracy, recall, precision, f1)):
        return (f"precision and recall are swapped: precision = TP / (TP + FP) = {precision:.4g}, recall = "
                f"TP / (TP + FN) = {recall:.4g}, got precision {got[1]:.4g} and recall {got[2]:.4g} (input: {case})")
    if np.allclose(got, (precision, recall, f1, accuracy)):
        return (f"the values come in assignment 1's order (precision, recall, f1, accuracy); this assignment's "
                f"template returns (accuracy, precision, recall, f1) (input: {case})")
    order = _order_of(got, expected) or tuple(range(4))
    in_order = [None] * 4
    for position, k in enumerate(order):
        in_order[k] = got[position]
    wrong = [f"{name} expected {want:.6g}, got {value:.6g}"
             for name, want, value in zip(_METRIC_NAMES, expected, in_order) if not np.isclose(value, want)]
    if order == tuple(range(4)):
        return f"{'; '.join(wrong)} (input: {case})"
    return (f"the values come in the order ({', '.join(_METRIC_NAMES[k] for k in order)}); this assignment's "
            f"template returns (accuracy, precision, recall, f1){'; and ' + '; '.join(wrong) if wrong else ''} "
            f"(input: {case})")


def _order_of(got, expected):
    """The permutation `order` under which got[i] == expected[order[i]] holds for all four values, or else for
    three of them (one value wrong besides the order; ties go to the template's order); None when none does."""
    best, best_matches = None, 2
    for order in itertools.permutations(range(len(expected))):
        matches = sum(np.isclose(value, expected[k], rtol=1e-9, atol=1e-12) for value, k in zip(got, order))
        if matches > best_matches:
            best, best_matches = order, matches
    return best


def _learners_order(metric):
    """The order in which `metric` returns (accuracy, precision, recall, f1), read off the formulas' first case
    (where the four differ); the template's order when no order fits (the formulas check says what is wrong)."""
    counts = (2, 1, 3, 1)
    try:
        got = _binary_result(metric(*_binary_case(*counts)), counts)
    except Exception:  # the formulas check reports it; the edge cases are judged in the template's order
        return tuple(range(4))
    return _order_of(got, _binary_expected(*counts)) or tuple(range(4))


def _binary_edge_case(modules, counts):
    """Fail on a wrong defined value; return Info for NaN where the value is 0/0; None when all is right.

    The values are taken in the order the learner's function uses (see `_learners_order`), so that an order the
    formulas check already reported is not reported again as wrong values here.
    """
    metric = modules.metrics.binary_classification_metrics
    prediction, truth = _binary_case(*counts)
    undefined = [name for name, value in zip(_METRIC_NAMES, _binary_expected(*counts)) if value is None]
    note = (f"; {' and '.join(undefined)} 0/0 here, which the assignment leaves open: 0 (ours) or NaN, not an "
            f"exception" if undefined else "")
    if counts[0] == 0 and not undefined:
        note += ("; precision and recall are both 0 here, so 2 P R / (P + R) divides 0 by 0, while F1 = 2 TP / "
                 "(2 TP + FP + FN) = 0: return 0")
    with on_input(_describe_counts(counts) + note):
        returned = _binary_result(metric(prediction, truth), counts)
    got = [0.0] * 4
    for position, k in enumerate(_learners_order(metric)):
        got[k] = returned[position]
    expected = _binary_expected(*counts)
    case = _describe_counts(counts)
    undefined = {name for name, want in zip(_METRIC_NAMES, expected) if want is None}
    # F1 from an undefined precision or recall may be NaN too; any number it takes then is F1's defined value 0
    may_be_nan = undefined | ({"f1"} if undefined else set())
    nan = [name for name, value in zip(_METRIC_NAMES, got) if name in may_be_nan and np.isnan(value)]
    for name, want, value in zip(_METRIC_NAMES, expected, got):
        if name in nan:
            continue
        if name in undefined:
            if not 0 <= value <= 1:
                raise CheckFailed(f"{name} is 0/0 here and may be any value in [0, 1] (ours is 0), got {value:.6g} "
                                  f"(input: {case})")
        elif np.isnan(value) and name == "f1":
            raise CheckFailed(f"f1 is NaN, but F1 = 2 TP / (2 TP + FP + FN) = {want:.6g} here; "
                              f"2 * precision * recall / (precision + recall) divides 0 by 0 when both are 0: "
                              f"return 0 then (input: {case})")
        elif not np.isclose(value, want, rtol=1e-9, atol=1e-12):
            raise CheckFailed(f"{name} expected {want:.6g}, got {value:.6g} (input: {case})")
    if nan:
        return Info(f"{' and '.join(nan)} NaN on {case}: a 0/0 the assignment does not define; 0, as our "
                    f"metrics.py and scikit-learn return, keeps averages and comparisons of it working")
    return None


def _check_accuracy(modules, prediction, truth):
    """CheckFailed unless multiclass_accuracy returns the fraction of equal entries."""
    right = int(np.count_nonzero(prediction == truth))
    expected = right / truth.size
    case = f"{truth.size} samples, {right} right"
    with on_input(case):
        got = modules.metrics.multiclass_accuracy(prediction, truth)
    if not _is_real_scalar(got):
        raise CheckFailed(f"multiclass_accuracy must return a number, got {short(got)} (input: {case})")
    got = float(got)
    if np.isclose(got, expected, rtol=1e-9, atol=1e-12):
        return
    if got == right != expected:
        raise CheckFailed(f"expected the fraction {expected:.6g} of right predictions, got their count {right} "
                          f"(input: {case})")
    raise CheckFailed(f"expected {expected:.6g}, got {got:.6g} (input: {case})")


def _is_real_scalar(value):
    """Whether `value` is one real number (Python or numpy, 0-d arrays included)."""
    return np.ndim(value) == 0 and np.asarray(value).dtype.kind in "biuf"
