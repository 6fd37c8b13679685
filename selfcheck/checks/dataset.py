"""Checks of the learner's dataset.py.

The loaders read small `.mat` files in SVHN's layout that the check writes into a temporary folder and removes;
every image is different and not symmetric, so each returned image can be traced back to the file's image it came
from. The learner-visible global numpy RNG is saved and restored around every call; the `global_rng` checks measure
whether the call changed it.
"""
import contextlib
import shutil
import tempfile
from pathlib import Path

import numpy as np
import scipy.io

from selfcheck.base import CheckFailed, check
from selfcheck.tools import global_rng_kept, short


@check("load_data_mat.call.shapes", needs=("dataset.load_data_mat",),
       description="X of shape (n, 32, 32, 3) float and y of shape (n,) int for max_samples n")
def _load_shapes(modules):
    X, y = _load_file(modules, _LABELS_12, 5)
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
    X, y = _load_file(modules, labels, labels.size, images)
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
    X, y = _load_file(modules, labels, 5)
    _check_images_from(X, y, _images(labels.size), labels, "the file", "a file of 12 images, max_samples 5")


@check("load_data_mat.call.distinct_samples", needs=("dataset.load_data_mat",),
       description="max_samples different images: drawn without replacement")
def _load_distinct(modules):
    X, _ = _load_file(modules, _LABELS_12, 10)
    distinct = len({image.tobytes() for image in np.ascontiguousarray(X)})
    if distinct != 10:
        raise CheckFailed(f"expected 10 different images, got {distinct}: draw without replacement "
                          f"(replace=False) (input: a file of 12 different images, max_samples 10)")


@check("load_data_mat.call.seed_reproducible", needs=("dataset.load_data_mat",),
       description="two calls with the same seed return the same samples in the same order")
def _load_reproducible(modules):
    with _mat_folder() as folder, global_rng_kept():
        path = str(_write_mat(folder / "file.mat", _LABELS_12))
        first = _loaded(modules.dataset.load_data_mat(path, 5, seed=7), 5, "load_data_mat(..., 5, seed=7)")
        second = _loaded(modules.dataset.load_data_mat(path, 5, seed=7), 5, "load_data_mat(..., 5, seed=7)")
    if not (np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])):
        raise CheckFailed("two calls with seed=7 returned different samples: the seed must choose the subset "
                          "(input: a file of 12 images, max_samples 5)")


@check("load_data_mat.call.random_subset", needs=("dataset.load_data_mat",),
       description="different seeds choose different subsets")
def _load_random_subset(modules):
    with _mat_folder() as folder, global_rng_kept():
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
    with global_rng_kept():
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
    with global_rng_kept():
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


def _load_file(modules, labels, max_samples, images=None):
    """(X, y) of the learner's load_data_mat on a file of `labels` (and `images`, see `_write_mat`) written for the
    call, checked to be (max_samples, 32, 32, 3) and (max_samples,); numpy's global random state put back."""
    with _mat_folder() as folder:
        path = _write_mat(folder / "file.mat", labels, images)
        with global_rng_kept():
            result = modules.dataset.load_data_mat(str(path), max_samples)
    return _loaded(result, max_samples, f"load_data_mat(a file of {len(labels)} images, {max_samples})")


def _loaded(result, n, call):
    """(X, y) of a loader as arrays, or CheckFailed unless they are (n, 32, 32, 3) and (n,) numbers."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{call} must return (X, y), got {short(result)}")
    return (_array(result[0], (n, 32, 32, 3), f"X of {call}"), _array(result[1], (n,), f"y of {call}"))


def _array(value, shape, what):
    """`value` as an ndarray of real numbers of `shape`, or CheckFailed."""
    if not isinstance(value, np.ndarray):
        raise CheckFailed(f"{what}: expected an array of shape {shape}, got {short(value)}")
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
        with global_rng_kept():
            result = modules.dataset.load_svhn(str(folder), 6, 4)
    if not isinstance(result, (tuple, list)) or len(result) != 4:
        raise CheckFailed(f"load_svhn must return (train_X, train_y, test_X, test_y), got {short(result)} "
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
                          f"{short(result)} (input: 12 samples, num_val {n_val})")
    shapes = ((n_train, 2, 3, 1), (n_train,), (n_val, 2, 3, 1), (n_val,))
    names = ("train_X", "train_y", "val_X", "val_y")
    return [_array(value, shape, f"{name} (input: 12 samples of shape (2, 3, 1), num_val {n_val})")
            for value, shape, name in zip(result, shapes, names)]


def _check_global_rng_kept(call, name, seed):
    """Run `call` from a known global random state; CheckFailed if the state differs afterwards."""
    with global_rng_kept():
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
