"""Checks of the learner's metrics.py, dataset.py and gradient_check.py.

metrics: every value against its formula on cases where precision and recall differ, and the edge cases. A ratio
whose denominator is zero (precision with nothing predicted positive, recall with no positive sample) is not
defined by the assignment: any value in [0, 1] passes (ours and scikit-learn's is 0); NaN there is reported as
`info`. Values that are defined (accuracy always; F1 = 2 TP / (2 TP + FP + FN) whenever precision and recall are
both defined) must be right: NaN there fails.

dataset: the loaders read small `.mat` files in SVHN's layout that the check writes into a temporary folder and
removes; every image is different and not symmetric, so each returned image can be traced back to the file's image
it came from. The learner-visible global numpy RNG is saved and restored around every call; the `global_rng` checks
measure whether the call changed it.

gradient_check: the learner's checkers are given correct gradients (they must say True) and gradients with one
wrong entry, the last one (they must say False), of a quadratic function, a tiny tanh layer and a tiny linear model
written here; each layer and model is fresh, its gradients zero, for each call.
"""
import contextlib
import itertools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import scipy.io

from checks_base import CheckFailed, Info, check

_METRIC_NAMES = ("accuracy", "precision", "recall", "f1")


# The checks of metrics.py.
@check("binary_classification_metrics.call.formulas", needs=("metrics.binary_classification_metrics",),
       description="accuracy, precision, recall and F1 equal their formulas where precision and recall differ")
def _binary_formulas(modules):
    for counts in ((2, 1, 3, 1), (6, 2, 9, 4)):
        prediction, truth = _binary_case(*counts)
        got = _binary_result(modules.metrics.binary_classification_metrics(prediction, truth), counts)
        expected = _binary_expected(*counts)
        if not np.allclose(got, expected, rtol=1e-9, atol=1e-12):
            raise CheckFailed(_binary_mismatch(got, expected, counts))


@check("binary_classification_metrics.call.no_predicted_positive", needs=("metrics.binary_classification_metrics",),
       description="no crash when nothing is predicted positive; precision (0/0) in [0, 1], the others exact")
def _binary_no_predicted_positive(modules):
    return _binary_edge_case(modules, (0, 0, 2, 3))


@check("binary_classification_metrics.call.no_actual_positive", needs=("metrics.binary_classification_metrics",),
       description="no crash when no sample is positive; recall (0/0) in [0, 1], the others exact")
def _binary_no_actual_positive(modules):
    return _binary_edge_case(modules, (0, 2, 0, 3))


@check("binary_classification_metrics.call.all_correct", needs=("metrics.binary_classification_metrics",),
       description="every prediction right: accuracy, precision, recall and F1 all 1")
def _binary_all_correct(modules):
    return _binary_edge_case(modules, (3, 0, 0, 2))


@check("binary_classification_metrics.call.all_wrong", needs=("metrics.binary_classification_metrics",),
       description="every prediction wrong: accuracy, precision, recall and F1 all 0, no NaN")
def _binary_all_wrong(modules):
    return _binary_edge_case(modules, (0, 2, 3, 0))


@check("multiclass_accuracy.call.random", needs=("metrics.multiclass_accuracy",),
       description="the fraction of right predictions on random int labels 0..9")
def _multiclass_random(modules):
    rng = np.random.default_rng(12)
    for n in (7, 30):
        truth = rng.integers(0, 10, n)
        prediction = np.where(rng.random(n) < 0.5, truth, (truth + rng.integers(1, 10, n)) % 10)
        _check_accuracy(modules, prediction, truth)


@check("multiclass_accuracy.call.batch_of_one", needs=("metrics.multiclass_accuracy",),
       description="one sample: 1.0 when right, 0.0 when wrong")
def _multiclass_batch_of_one(modules):
    _check_accuracy(modules, np.array([3]), np.array([3]))
    _check_accuracy(modules, np.array([3]), np.array([5]))


@check("multiclass_accuracy.call.all_wrong", needs=("metrics.multiclass_accuracy",),
       description="every prediction wrong: 0.0")
def _multiclass_all_wrong(modules):
    truth = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    _check_accuracy(modules, (truth + 1) % 10, truth)


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
                          f"{_short(result)} (input: {_describe_counts(counts)})")
    for name, value in zip(_METRIC_NAMES, result):
        if not _is_real_scalar(value):
            raise CheckFailed(f"{name} must be a number, got {_short(value)} (input: {_describe_counts(counts)})")
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
    order = _order_of(got, expected)
    if order is not None:
        return (f"the values come in the order ({', '.join(_METRIC_NAMES[k] for k in order)}); this assignment's "
                f"template returns (accuracy, precision, recall, f1) (input: {case})")
    wrong = [f"{name} expected {want:.6g}, got {value:.6g}"
             for name, want, value in zip(_METRIC_NAMES, expected, got) if not np.isclose(value, want)]
    return f"{'; '.join(wrong)} (input: {case})"


def _order_of(got, expected):
    """The permutation `order` with got[i] == expected[order[i]] for every i, or None when there is none."""
    for order in itertools.permutations(range(len(expected))):
        if np.allclose(got, [expected[k] for k in order], rtol=1e-9, atol=1e-12):
            return order
    return None


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
    got = modules.metrics.multiclass_accuracy(prediction, truth)
    right = int(np.count_nonzero(prediction == truth))
    expected = right / truth.size
    case = f"{truth.size} samples, {right} right"
    if not _is_real_scalar(got):
        raise CheckFailed(f"multiclass_accuracy must return a number, got {_short(got)} (input: {case})")
    got = float(got)
    if np.isclose(got, expected, rtol=1e-9, atol=1e-12):
        return
    if got == right != expected:
        raise CheckFailed(f"expected the fraction {expected:.6g} of right predictions, got their count {right} "
                          f"(input: {case})")
    raise CheckFailed(f"expected {expected:.6g}, got {got:.6g} (input: {case})")


# The checks of dataset.py.
@check("load_data_mat.call.shapes", needs=("dataset.load_data_mat",),
       description="X of shape (n, 32, 32, 3) float and y of shape (n,) int for max_samples n")
def _load_shapes(modules):
    with _mat_folder() as folder:
        path = _write_mat(folder / "file.mat", _LABELS_12)
        with _global_rng_kept():
            result = modules.dataset.load_data_mat(str(path), 5)
    X, y = _loaded(result, 5, "load_data_mat(a file of 12 images, 5)")
    if not np.issubdtype(X.dtype, np.floating):
        raise CheckFailed(f"X must hold floats (the template returns float32), got {X.dtype} "
                          f"(input: a file of 12 images, max_samples 5)")
    if not np.issubdtype(y.dtype, np.integer):
        raise CheckFailed(f"y must hold integer labels, got {y.dtype} (input: a file of 12 images, max_samples 5)")


@check("load_data_mat.call.labels", needs=("dataset.load_data_mat",),
       description="labels 1..9 kept and 10 mapped to the digit 0")
def _load_labels(modules):
    labels = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 3])
    # every image is one grey level, 20 times its label: its label can be read back from it whatever its layout
    images = np.broadcast_to((20 * labels).reshape(-1, 1, 1, 1), (labels.size, 32, 32, 3)).astype(np.uint8)
    with _mat_folder() as folder:
        path = _write_mat(folder / "file.mat", labels, images)
        with _global_rng_kept():
            result = modules.dataset.load_data_mat(str(path), labels.size)
    X, y = _loaded(result, labels.size, "load_data_mat(a file of 12 images, 12)")
    pixels = X.reshape(len(X), -1)
    if (pixels == pixels[:, :1]).all():
        file_labels = np.rint(pixels[:, 0] / 20).astype(int)
        got, expected = [int(label) for label in y], [int(label) % 10 for label in file_labels]
    else:  # images mixed up (see load_data_mat.call.images): compare the labels as a whole
        got, expected = sorted(int(label) for label in y), sorted(int(label) % 10 for label in labels)
    case = f"a file of 12 images labelled {labels.tolist()}, max_samples 12"
    if 10 in got:
        raise CheckFailed(f"label 10 came back as 10: SVHN's label 10 stands for the digit 0, map it to 0 "
                          f"(input: {case})")
    if got != expected:
        raise CheckFailed(f"expected the labels {expected}, got {got}: only 10 changes, to 0 (input: {case})")


@check("load_data_mat.call.images", needs=("dataset.load_data_mat",),
       description="each returned image is the file's image X[..., i] with its own label")
def _load_images(modules):
    labels = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3])
    with _mat_folder() as folder:
        path = _write_mat(folder / "file.mat", labels)
        with _global_rng_kept():
            result = modules.dataset.load_data_mat(str(path), 5)
    X, y = _loaded(result, 5, "load_data_mat(a file of 12 images, 5)")
    _check_images_from(X, y, _images(labels.size), labels, "the file", "a file of 12 images, max_samples 5")


@check("load_data_mat.call.distinct_samples", needs=("dataset.load_data_mat",),
       description="max_samples different images: drawn without replacement")
def _load_distinct(modules):
    with _mat_folder() as folder:
        path = _write_mat(folder / "file.mat", _LABELS_12)
        with _global_rng_kept():
            result = modules.dataset.load_data_mat(str(path), 10)
    X, _ = _loaded(result, 10, "load_data_mat(a file of 12 images, 10)")
    distinct = len({image.tobytes() for image in np.ascontiguousarray(X)})
    if distinct != 10:
        raise CheckFailed(f"expected 10 different images, got {distinct}: draw without replacement "
                          f"(replace=False) (input: a file of 12 different images, max_samples 10)")


@check("load_data_mat.call.seed_reproducible", needs=("dataset.load_data_mat",),
       description="two calls with the same seed return the same samples in the same order")
def _load_reproducible(modules):
    with _mat_folder() as folder, _global_rng_kept():
        path = str(_write_mat(folder / "file.mat", _LABELS_12))
        first = _loaded(modules.dataset.load_data_mat(path, 5, seed=7), 5, "load_data_mat(..., 5, seed=7)")
        second = _loaded(modules.dataset.load_data_mat(path, 5, seed=7), 5, "load_data_mat(..., 5, seed=7)")
    if not (np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])):
        raise CheckFailed("two calls with seed=7 returned different samples: the seed must choose the subset "
                          "(input: a file of 12 images, max_samples 5)")


@check("load_data_mat.call.random_subset", needs=("dataset.load_data_mat",),
       description="different seeds choose different subsets")
def _load_random_subset(modules):
    with _mat_folder() as folder, _global_rng_kept():
        path = str(_write_mat(folder / "file.mat", _LABELS_12))
        subsets = [_loaded(modules.dataset.load_data_mat(path, 5, seed=seed), 5, f"load_data_mat(..., seed={seed})")
                   for seed in (1, 2, 3)]
    if all(np.array_equal(subsets[0][0], X) for X, _ in subsets[1:]):
        raise CheckFailed("seeds 1, 2 and 3 returned the same images in the same order: max_samples must be a "
                          "random subset chosen by the seed (input: a file of 12 images, max_samples 5)")


@check("load_data_mat.call.global_rng", needs=("dataset.load_data_mat",),
       description="the call leaves numpy's global random state as it was (no np.random.seed)")
def _load_global_rng(modules):
    with _mat_folder() as folder:
        path = str(_write_mat(folder / "file.mat", _LABELS_12))
        _check_global_rng_kept(lambda: modules.dataset.load_data_mat(path, 5, seed=5), "load_data_mat", 5)


@check("load_svhn.call.shapes", needs=("dataset.load_svhn",),
       description="four arrays: (max_train, 32, 32, 3), (max_train,), (max_test, 32, 32, 3), (max_test,)")
def _svhn_shapes(modules):
    _load_svhn(modules)


@check("load_svhn.call.files", needs=("dataset.load_svhn",),
       description="training images from train_32x32.mat, test images from test_32x32.mat, each with its label")
def _svhn_files(modules):
    train_X, train_y, test_X, test_y = _load_svhn(modules)
    _check_images_from(train_X, train_y, _images(10), _SVHN_TRAIN_LABELS, "train_32x32.mat", _SVHN_CASE)
    _check_images_from(test_X, test_y, _images(8, first=100), _SVHN_TEST_LABELS, "test_32x32.mat", _SVHN_CASE)


@check("random_split_train_val.call.partition", needs=("dataset.random_split_train_val",),
       description="num_val validation samples, the rest for training, each sample once and kept with its label")
def _split_partition(modules):
    X, y = _split_data()
    with _global_rng_kept():
        result = modules.dataset.random_split_train_val(X, y, 4)
    train_X, train_y, val_X, val_y = _split_result(result, 8, 4)
    case = "12 samples of shape (2, 3, 1), num_val 4"
    for part, part_X, part_y in (("train", train_X, train_y), ("val", val_X, val_y)):
        if not np.isin(part_y, y).all() or not np.array_equal(part_X, X[part_y.astype(int)]):
            raise CheckFailed(f"{part}_X[i] must be the sample whose label is {part}_y[i] (input: {case})")
    together = np.sort(np.concatenate([train_y, val_y]))
    if not np.array_equal(together, y):
        raise CheckFailed(f"every sample must be in exactly one part, got labels {together.tolist()} "
                          f"(input: {case}, labels 0..11)")


@check("random_split_train_val.call.seed_reproducible", needs=("dataset.random_split_train_val",),
       description="two calls with the same seed split the same way")
def _split_reproducible(modules):
    X, y = _split_data()
    with _global_rng_kept():
        first = _split_result(modules.dataset.random_split_train_val(X, y, 4, seed=7), 8, 4)
        second = _split_result(modules.dataset.random_split_train_val(X, y, 4, seed=7), 8, 4)
    if not all(np.array_equal(a, b) for a, b in zip(first, second)):
        raise CheckFailed("two calls with seed=7 split differently: the seed must choose the split "
                          "(input: 12 samples, num_val 4)")


@check("random_split_train_val.call.global_rng", needs=("dataset.random_split_train_val",),
       description="the call leaves numpy's global random state as it was (no np.random.seed)")
def _split_global_rng(modules):
    X, y = _split_data()
    _check_global_rng_kept(lambda: modules.dataset.random_split_train_val(X, y, 4, seed=5),
                           "random_split_train_val", 5)


_LABELS_12 = np.arange(12) % 10 + 1
_SVHN_TRAIN_LABELS = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 1])
_SVHN_TEST_LABELS = np.array([9, 8, 7, 6, 5, 4, 3, 2])
_SVHN_CASE = "train_32x32.mat of 10 images, test_32x32.mat of 8 other ones, max_train 6, max_test 4"
# Global random states explored for a reseed: blocks of 624 words of numpy's MT19937 after np.random.seed(seed).
_RESEED_BLOCKS = 64


@contextlib.contextmanager
def _global_rng_kept():
    """Restore numpy's global random state on leaving, whatever the learner's code did to it."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


@contextlib.contextmanager
def _mat_folder():
    """A fresh temporary folder (a Path), removed on leaving."""
    folder = tempfile.mkdtemp(prefix="check_data_")
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _images(n, first=0):
    """n different uint8 images of shape (n, 32, 32, 3), none equal to another one with rows and columns swapped.

    Image i is `(7 * row + 3 * column + 11 * channel + 37 * (first + i)) % 256`; 37 is odd, so the images of
    i in 0..255 are all different.
    """
    rows, columns, channels = np.ogrid[:32, :32, :3]
    base = 7 * rows + 3 * columns + 11 * channels
    index = np.arange(first, first + n).reshape(n, 1, 1, 1)
    return ((base[None] + 37 * index) % 256).astype(np.uint8)


def _write_mat(path, labels, images=None):
    """Write an SVHN-like file: `X` uint8 (32, 32, 3, n) of `images` (n, 32, 32, 3), by default `_images(n)`, and
    `y` uint8 (n, 1) of `labels` (n,). Return path."""
    n = len(labels)
    images = _images(n) if images is None else images
    # (n, 32, 32, 3) -> (32, 32, 3, n), SVHN's layout
    scipy.io.savemat(path, {"X": np.moveaxis(images, 0, -1), "y": np.asarray(labels, np.uint8).reshape(n, 1)})
    return path


def _loaded(result, n, call):
    """(X, y) of a loader as arrays, or CheckFailed unless they are (n, 32, 32, 3) and (n,) numbers."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{call} must return (X, y), got {_short(result)}")
    return (_array(result[0], (n, 32, 32, 3), f"X of {call}"), _array(result[1], (n,), f"y of {call}"))


def _array(value, shape, what):
    """`value` as an ndarray of real numbers of `shape`, or CheckFailed."""
    if not isinstance(value, np.ndarray):
        raise CheckFailed(f"{what}: expected an array of shape {shape}, got {_short(value)}")
    if value.shape != shape or value.dtype.kind not in "biuf":
        raise CheckFailed(f"{what}: expected an array of numbers of shape {shape}, got {value.dtype} {value.shape}")
    return value


def _check_images_from(X, y, file_images, file_labels, source, case):
    """CheckFailed unless every X[k] is one of `file_images` and y[k] that image's label (10 as 0)."""
    flat_file = file_images.reshape(len(file_images), -1).astype(np.float64)
    for k in range(len(X)):
        matches = np.flatnonzero((flat_file == X[k].reshape(-1)).all(axis=1))
        if matches.size == 0:
            transposed = (flat_file == X[k].transpose(1, 0, 2).reshape(-1)).all(axis=1).any()
            raise CheckFailed(f"returned image {k} is none of the images of {source}: image i of the file is "
                              f"X[:, :, :, i], returned as X[i] of shape (32, 32, 3) (np.moveaxis(X, 3, 0)) "
                              f"(input: {case})", "rows_columns_swapped" if transposed else None)
        if int(y[k]) != int(file_labels[matches[0]]) % 10:
            raise CheckFailed(f"returned image {k} is image {matches[0]} of {source}, labelled "
                              f"{file_labels[matches[0]]}, but came with label {y[k]} (input: {case})")


def _load_svhn(modules):
    """The learner's load_svhn on a folder written here, its result checked for types and shapes."""
    with _mat_folder() as folder:
        _write_mat(folder / "train_32x32.mat", _SVHN_TRAIN_LABELS)
        _write_mat(folder / "test_32x32.mat", _SVHN_TEST_LABELS, _images(8, first=100))
        with _global_rng_kept():
            result = modules.dataset.load_svhn(str(folder), 6, 4)
    if not isinstance(result, (tuple, list)) or len(result) != 4:
        raise CheckFailed(f"load_svhn must return (train_X, train_y, test_X, test_y), got {_short(result)} "
                          f"(input: {_SVHN_CASE})")
    shapes = ((6, 32, 32, 3), (6,), (4, 32, 32, 3), (4,))
    names = ("train_X", "train_y", "test_X", "test_y")
    return [_array(value, shape, f"{name} ({_SVHN_CASE})") for value, shape, name in zip(result, shapes, names)]


def _split_data():
    """X of shape (12, 2, 3, 1) where sample i is full of i (plus a pattern), y = 0..11."""
    y = np.arange(12)
    X = y.reshape(12, 1, 1, 1) + np.arange(6).reshape(1, 2, 3, 1) / 10
    return X, y


def _split_result(result, n_train, n_val):
    """The four arrays of random_split_train_val, or CheckFailed unless their shapes fit the split."""
    if not isinstance(result, (tuple, list)) or len(result) != 4:
        raise CheckFailed(f"random_split_train_val must return (train_X, train_y, val_X, val_y), got "
                          f"{_short(result)} (input: 12 samples, num_val {n_val})")
    shapes = ((n_train, 2, 3, 1), (n_train,), (n_val, 2, 3, 1), (n_val,))
    names = ("train_X", "train_y", "val_X", "val_y")
    return [_array(value, shape, f"{name} (input: 12 samples of shape (2, 3, 1), num_val {n_val})")
            for value, shape, name in zip(result, shapes, names)]


def _check_global_rng_kept(call, name, seed):
    """Run `call` from a known global random state; CheckFailed if the state differs afterwards."""
    with _global_rng_kept():
        np.random.seed(20240612)
        np.random.random_sample(3)
        before = np.random.get_state()
        call()
        after = np.random.get_state()
    if _same_state(before, after):
        return
    reseeds = [candidate for candidate in dict.fromkeys((seed, 42, 0)) if _reseeded_with(after, candidate)]
    if reseeds:
        raise CheckFailed(f"{name}(..., seed={seed}) reseeds numpy's global random generator: afterwards it is "
                          f"in a state of the stream np.random.seed({reseeds[0]}) starts, so every later np.random "
                          f"draw of the program (weights, shuffling) is the same in every run", "global_rng_reseeded")
    raise CheckFailed(f"{name}(..., seed={seed}) changed numpy's global random state (it draws from np.random): "
                      f"draw from a local np.random.RandomState(seed) or np.random.default_rng(seed) instead")


def _same_state(a, b):
    """Whether two np.random.get_state() tuples are equal."""
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])


def _reseeded_with(state, seed):
    """Whether the MT19937 key of `state` is one that np.random.seed(seed) reaches within _RESEED_BLOCKS blocks."""
    stream = np.random.RandomState(seed)
    for _ in range(_RESEED_BLOCKS):
        if np.array_equal(stream.get_state()[1], state[1]):
            return True
        stream.bytes(624 * 4)  # exactly one block of 624 32-bit words: the next key
    return False


# The checks of gradient_check.py.
@check("check_gradient.call.correct_gradient", needs=("gradient_check.check_gradient",),
       description="True for f(x) = sum(x ** 2) with its gradient 2 x, x float64 of shapes (3,) and (2, 3)")
def _gradient_correct(modules):
    for shape in ((3,), (2, 3)):
        x = _point(shape)
        with _global_rng_kept():
            result = modules.gradient_check.check_gradient(_square_sum, x)
        _expect_bool(result, True, "check_gradient", f"f(x) = sum(x ** 2), gradient 2 x, x of shape {shape} float64")


@check("check_gradient.call.wrong_gradient", needs=("gradient_check.check_gradient",),
       description="False for f(x) = sum(x ** 2) with a gradient 2 x whose last entry is 1 too large")
def _gradient_wrong(modules):
    for shape in ((3,), (2, 3)):
        x = _point(shape)
        with _global_rng_kept():
            result = modules.gradient_check.check_gradient(_square_sum_wrong, x)
        _expect_bool(result, False, "check_gradient", f"f(x) = sum(x ** 2), gradient 2 x but its last entry 1 too "
                                                      f"large, x of shape {shape} float64")


@check("check_gradient.call.x_unchanged", needs=("gradient_check.check_gradient",),
       description="x holds the same values after the check as before")
def _gradient_x_unchanged(modules):
    x = _point((2, 3))
    original = x.copy()
    with _global_rng_kept():
        modules.gradient_check.check_gradient(_square_sum, x)
    if np.array_equal(x, original):
        return None
    case = "f(x) = sum(x ** 2), x of shape (2, 3) float64"
    if np.allclose(x, original, rtol=1e-12, atol=0):
        return Info(f"x changed by rounding only (largest change {np.abs(x - original).max():.2g}): restore the "
                    f"saved value instead of adding and subtracting delta (input: {case})")
    raise CheckFailed(f"check_gradient changed x: {int(np.count_nonzero(x != original))} of {x.size} values "
                      f"differ afterwards (input: {case})")


@check("check_layer_gradient.call.correct_gradient", needs=("gradient_check.check_layer_gradient",),
       description="True for a tanh layer whose backward is right")
def _layer_correct(modules):
    with _global_rng_kept():
        result = modules.gradient_check.check_layer_gradient(_TanhLayer(), _point((2, 3)))
    _expect_bool(result, True, "check_layer_gradient", _TanhLayer.case("a correct backward"))


@check("check_layer_gradient.call.wrong_gradient", needs=("gradient_check.check_layer_gradient",),
       description="False for a tanh layer whose input gradient is wrong in its last entry")
def _layer_wrong(modules):
    with _global_rng_kept():
        result = modules.gradient_check.check_layer_gradient(_TanhLayer(wrong="input"), _point((2, 3)))
    _expect_bool(result, False, "check_layer_gradient",
                 _TanhLayer.case("a backward whose input gradient is 0.5 off in its last entry"))


@check("check_layer_param_gradient.call.correct_gradient", needs=("gradient_check.check_layer_param_gradient",),
       description="True for W and for B of a tanh layer whose backward is right")
def _param_correct(modules):
    for name in ("W", "B"):
        with _global_rng_kept():
            result = modules.gradient_check.check_layer_param_gradient(_TanhLayer(), _point((2, 3)), name)
        _expect_bool(result, True, f"check_layer_param_gradient(..., '{name}')",
                     _TanhLayer.case("a correct backward"))


@check("check_layer_param_gradient.call.wrong_gradient", needs=("gradient_check.check_layer_param_gradient",),
       description="False for W of a tanh layer whose W.grad is wrong in its last entry")
def _param_wrong(modules):
    with _global_rng_kept():
        result = modules.gradient_check.check_layer_param_gradient(_TanhLayer(wrong="W"), _point((2, 3)), "W")
    _expect_bool(result, False, "check_layer_param_gradient(..., 'W')",
                 _TanhLayer.case("a backward that adds to W.grad 0.5 too much in its last entry"))


@check("check_model_gradient.call.correct_gradient", needs=("gradient_check.check_model_gradient",),
       description="True for a linear model with a squared-error loss whose gradients are right")
def _model_correct(modules):
    with _global_rng_kept():
        result = modules.gradient_check.check_model_gradient(_LinearModel(), _point((2, 4)), np.array([0, 2]))
    _expect_bool(result, True, "check_model_gradient", _LinearModel.case("correct gradients"))


@check("check_model_gradient.call.wrong_gradient", needs=("gradient_check.check_model_gradient",),
       description="False for a linear model whose last parameter's gradient is wrong in its last entry")
def _model_wrong(modules):
    with _global_rng_kept():
        result = modules.gradient_check.check_model_gradient(_LinearModel(wrong=True), _point((2, 4)),
                                                             np.array([0, 2]))
    _expect_bool(result, False, "check_model_gradient",
                 _LinearModel.case("B.grad 0.5 off in its last entry (B is the last of params())"))


def _point(shape):
    """A float64 point of `shape` with entries of magnitude 0.3..1.2, away from 0."""
    rng = np.random.default_rng(len(shape) * 10 + shape[-1])
    return rng.uniform(0.3, 1.2, shape) * rng.choice([-1.0, 1.0], shape)


def _square_sum(x):
    return float(np.sum(x ** 2)), 2 * x


def _square_sum_wrong(x):
    grad = 2 * x
    grad.flat[-1] += 1.0
    return float(np.sum(x ** 2)), grad


def _expect_bool(result, expected, what, case):
    """CheckFailed unless `result` is the bool `expected`."""
    if not isinstance(result, (bool, np.bool_)):
        raise CheckFailed(f"{what} must return True or False, got {_short(result)} (input: {case})")
    if bool(result) != expected:
        verdict = "a wrong gradient: it must compare every entry" if expected is False else "a correct gradient"
        raise CheckFailed(f"{what} returned {bool(result)} on {verdict} (input: {case})")


class _Param:
    """What the contract promises of a parameter: `value` and `grad` of its shape."""

    def __init__(self, value):
        self.value = value
        self.grad = np.zeros_like(value)


class _TanhLayer:
    """out = tanh(X @ W + B) for X of shape (batch, 3), W (3, 2), B (1, 2); backward adds into W.grad and B.grad.

    `wrong`: None, "input" (the returned input gradient) or "W" (what is added to W.grad) is 0.5 too large in its
    last entry.
    """

    def __init__(self, wrong=None):
        rng = np.random.default_rng(3)
        self.W = _Param(rng.normal(0, 0.7, (3, 2)))
        self.B = _Param(rng.normal(0, 0.7, (1, 2)))
        self.wrong = wrong

    @staticmethod
    def case(what):
        return f"a layer tanh(X @ W + B) with {what}, X of shape (2, 3) float64, W (3, 2), B (1, 2)"

    def forward(self, X):
        self.X = np.array(X, dtype=np.float64)
        self.out = np.tanh(self.X @ self.W.value + self.B.value)
        return self.out

    def backward(self, d_out):
        d_z = d_out * (1 - self.out ** 2)
        d_W = self.X.T @ d_z
        if self.wrong == "W":
            d_W[-1, -1] += 0.5
        self.W.grad += d_W
        self.B.grad += d_z.sum(axis=0, keepdims=True)
        d_X = d_z @ self.W.value.T
        if self.wrong == "input":
            d_X[-1, -1] += 0.5
        return d_X

    def params(self):
        return {"W": self.W, "B": self.B}


class _LinearModel:
    """scores = X @ W + B for X (batch, 4), W (4, 3), B (1, 3); loss 0.5 * sum((scores - onehot(y)) ** 2) / batch.

    `wrong`: B.grad, the last parameter of params(), is 0.5 too large in its last entry.
    """

    def __init__(self, wrong=False):
        rng = np.random.default_rng(4)
        self.W = _Param(rng.normal(0, 0.5, (4, 3)))
        self.B = _Param(rng.normal(0, 0.5, (1, 3)))
        self.wrong = wrong

    @staticmethod
    def case(what):
        return (f"a model scores = X @ W + B, loss 0.5 * mean squared distance to one-hot y, with {what}, "
                f"X of shape (2, 4) float64, y [0, 2]")

    def params(self):
        return {"W": self.W, "B": self.B}

    def compute_loss_and_gradients(self, X, y):
        for param in self.params().values():
            param.grad = np.zeros_like(param.value)
        diff = X @ self.W.value + self.B.value - np.eye(3)[y]
        self.W.grad += X.T @ diff / len(X)
        self.B.grad += diff.sum(axis=0, keepdims=True) / len(X)
        if self.wrong:
            self.B.grad[-1, -1] += 0.5
        return float(0.5 * np.sum(diff ** 2) / len(X))

    def predict(self, X):
        return np.argmax(X @ self.W.value + self.B.value, axis=1)


def _is_real_scalar(value):
    """Whether `value` is one real number (Python or numpy, 0-d arrays included)."""
    return np.ndim(value) == 0 and np.asarray(value).dtype.kind in "biuf"


def _short(value):
    """`value`'s type and repr, cut to a line."""
    text = f"{type(value).__name__} {value!r}"
    return text if len(text) <= 80 else text[:77] + "..."
