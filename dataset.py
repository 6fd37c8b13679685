"""Loading SVHN's `.mat` files and splitting a training set into training and validation parts.

Get the files with `./download_data.sh` (into `data/`), or build the offline stand-in with
`python standin.py data`. Randomness comes from a local `numpy.random.Generator`; the global numpy RNG is never
touched.
"""
import os
import shlex
import warnings

import numpy as np
import scipy.io

from validation import check_dtype, check_finite, check_int, check_rng, check_samples

TRAIN_FILE = "train_32x32.mat"
TEST_FILE = "test_32x32.mat"
IMAGE_SHAPE = (32, 32, 3)
# prepare_for_neural_network scales pixels 0..255 to [0, 1].
PIXEL_SCALE = 1 / 255
STANDIN_KEY = "standin"

_warned_standins = set()


class StandInDataWarning(UserWarning):
    """The images come from the synthetic stand-in made by `standin.py`, not from SVHN."""


def load_data_mat(filename, max_samples, seed=42):
    """Load a random subset of the images and labels of one SVHN `.mat` file.

    Only the sampled images are converted to float32; the file's uint8 array is never converted as a whole.
    Reading the offline stand-in warns once per file with `StandInDataWarning` (`load_svhn`: once per folder).

    Parameters
    ----------
    filename : str or os.PathLike
        An SVHN file: `X` uint8 of shape (32, 32, 3, n_file) and `y` of shape (n_file, 1), labels 1..10 where
        10 stands for the digit 0.
    max_samples : int or None
        Number of images to draw without replacement, 1..n_file; None takes all of them.
    seed : None, int or numpy.random.Generator
        Chooses the subset and its order; the same seed gives the same samples.

    Returns
    -------
    X : ndarray of shape (n, 32, 32, 3), float32
        Pixel values in 0..255, NHWC.
    y : ndarray of shape (n,), int64
        Digits 0..9.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        `filename` is missing, or is a directory.
    ValueError
        The file is truncated, empty or not a MATLAB file, or does not hold SVHN's `X` and `y`; the message names
        the file and says how to get it again.
    """
    _check_path(filename, "filename")
    max_samples = _check_max_samples(max_samples, "max_samples")
    rng = check_rng(seed)
    _check_exists(filename)
    X, y, is_standin = _load_subset(filename, max_samples, "max_samples", rng)
    if is_standin:
        _warn_standin(filename)
    return X, y


def load_svhn(folder, max_train, max_test, seed=42):
    """Load random subsets of SVHN's training and test files from `folder`.

    Both files are looked for before either is read, so a missing test file fails fast.

    Parameters
    ----------
    folder : str or os.PathLike
        Holds `train_32x32.mat` and `test_32x32.mat`.
    max_train, max_test : int or None
        Images to take from each file (None: all), as `max_samples` of `load_data_mat`.
    seed : None, int or numpy.random.Generator
        Each file's subset is the one `load_data_mat(path, max_samples, seed)` draws, so the test subset does
        not depend on `max_train`.

    Returns
    -------
    train_X : ndarray of shape (max_train, 32, 32, 3), float32
    train_y : ndarray of shape (max_train,), int64
    test_X : ndarray of shape (max_test, 32, 32, 3), float32
    test_y : ndarray of shape (max_test,), int64

    Raises
    ------
    NotADirectoryError
        `folder` is a file.
    FileNotFoundError, IsADirectoryError, ValueError
        As `load_data_mat`, for either file.
    """
    _check_path(folder, "folder")
    max_train = _check_max_samples(max_train, "max_train")
    max_test = _check_max_samples(max_test, "max_test")
    if os.path.isfile(folder):
        raise NotADirectoryError(f"`folder` must be a folder holding {TRAIN_FILE} and {TEST_FILE}, "
                                 f"got the file {folder}")
    paths = os.path.join(folder, TRAIN_FILE), os.path.join(folder, TEST_FILE)
    for path in paths:
        _check_exists(path)
    arrays, standins = [], []
    for path, max_samples, name in zip(paths, (max_train, max_test), ("max_train", "max_test")):
        X, y, is_standin = _load_subset(path, max_samples, name, check_rng(seed))
        if is_standin:
            standins.append(os.path.basename(path))
        arrays += [X, y]
    if standins:
        _warn_standin(folder, f"{os.fspath(folder)}/ holds the synthetic stand-in for SVHN made by standin.py "
                              f"({', '.join(standins)})")
    return tuple(arrays)


def describe_data(folder):
    """One line saying whether `folder` holds SVHN or the offline stand-in, judged by its training file.

    For notebooks and logs, which say it once where `load_svhn` would warn.
    """
    path = os.path.join(folder, TRAIN_FILE)
    if not os.path.isfile(path):
        return (f"{os.fspath(folder)}/ holds no {TRAIN_FILE}: run `make data` (SVHN, or the offline stand-in "
                "without network).")
    if has_standin_marker(path):
        return (f"{os.fspath(folder)}/ holds the synthetic stand-in made by standin.py, NOT SVHN: every accuracy "
                "measured on it is a stand-in figure, not an SVHN result.")
    return f"{os.fspath(folder)}/ holds SVHN (no stand-in marker)."


def random_split_train_val(X, y, num_val, seed=42):
    """Split samples at random into a training part and `num_val` validation samples.

    Parameters
    ----------
    X : ndarray of shape (n, ...)
    y : ndarray of shape (n,)
    num_val : int
        Size of the validation part, 1..n-1.
    seed : None, int or numpy.random.Generator
        The same seed gives the same split.

    Returns
    -------
    train_X : ndarray of shape (n - num_val, ...)
    train_y : ndarray of shape (n - num_val,)
    val_X : ndarray of shape (num_val, ...)
    val_y : ndarray of shape (num_val,)
        Every sample lands in exactly one part; dtypes are kept.
    """
    X, y = check_samples(X, y)
    n = X.shape[0]
    num_val = check_int(num_val, "num_val", 1)
    if num_val >= n:
        raise ValueError(f"`num_val` must be smaller than the number of samples ({n}) so that some are left "
                         f"for training, got {num_val}")
    order = check_rng(seed).permutation(n)
    val, train = order[:num_val], order[num_val:]
    return X[train], y[train], X[val], y[val]


def _load_subset(path, max_samples, name, rng):
    """Draw `max_samples` images (None: all) of the file at `path`; the third value is its stand-in flag."""
    X, y, is_standin = _read_mat(path)
    n_file = X.shape[3]
    if max_samples is None:
        max_samples = n_file
    elif max_samples > n_file:
        raise ValueError(f"`{name}` must be at most the number of images in {path} ({n_file}), "
                         f"got {max_samples}; pass None to take all of them")
    indices = rng.choice(n_file, size=max_samples, replace=False)
    # (32, 32, 3, n_file) -> (max_samples, 32, 32, 3); only the chosen images become float32
    images = np.ascontiguousarray(np.moveaxis(X[..., indices], -1, 0), dtype=np.float32)
    # Labels 1..9 are their digits and 10 is the digit 0.
    labels = y.reshape(-1)[indices].astype(np.int64) % 10
    return images, labels, is_standin


def _check_max_samples(value, name):
    """Return None (all images) or `value` as an int >= 1."""
    return None if value is None else check_int(value, name, 1)


def _check_path(path, name):
    """Raise TypeError unless `path` is a str or os.PathLike."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a str or os.PathLike, got {type(path).__name__}")


def _check_exists(path):
    """Raise IsADirectoryError for a directory, FileNotFoundError naming `path` and the two ways to get SVHN's
    files for anything else that is not a file."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory, not an SVHN .mat file")
    if not os.path.isfile(path):
        folder = _folder(path)
        raise FileNotFoundError(
            f"SVHN file not found: {path}. Download the data with `./download_data.sh {folder}`, "
            f"or build the offline stand-in with `python standin.py {folder}`")


def _folder(path):
    """The folder of `path`, quoted for a shell command."""
    return shlex.quote(os.path.dirname(os.fspath(path)) or ".")


def has_standin_marker(path):
    """Whether the `.mat` file at `path` carries the stand-in marker, even when it is cut short after it.

    standin.py writes the marker as the first variable, and scipy stops reading once it has the variables asked
    for, so an interrupted copy of a stand-in is still known as one.
    """
    try:
        return STANDIN_KEY in scipy.io.loadmat(path, variable_names=[STANDIN_KEY])
    except Exception:  # a damaged file makes scipy raise any of a dozen types; all mean "no marker found"
        return False


def _repair_advice(path):
    """How to get a good copy of the damaged file at `path`: rebuild a stand-in, re-download SVHN."""
    if has_standin_marker(path):
        return f"it is the offline stand-in: rebuild it with `python standin.py {_folder(path)}`"
    return f"re-download it (`./download_data.sh {_folder(path)}`)"


def _read_mat(path):
    """Read and check `X` and `y` of a `.mat` file; also say whether it carries the stand-in marker."""
    try:
        contents = scipy.io.loadmat(path)
    except PermissionError:
        raise
    except Exception as error:  # a damaged file makes scipy raise any of a dozen types (OSError, IndexError, ...)
        contents, reason = {}, f"{type(error).__name__}: {' '.join(str(error).split())}"
    else:
        reason = "it holds no variables"
    found = sorted(name for name in contents if not name.startswith("__"))
    if not found:
        raise ValueError(f"{path} ({os.path.getsize(path)} bytes) is truncated or not a MATLAB .mat file "
                         f"({reason}): {_repair_advice(path)}")
    missing = [name for name in ("X", "y") if name not in contents]
    if missing:
        raise ValueError(f"{path} must hold SVHN's variables `X` and `y`, missing {', '.join(missing)}; "
                         f"found {found}: {_repair_advice(path)}")
    X, y = contents["X"], contents["y"]
    if X.dtype != np.uint8 or X.ndim != 4 or X.shape[:3] != IMAGE_SHAPE:
        raise ValueError(f"`X` in {path} must be uint8 of shape (32, 32, 3, n), got {X.dtype} {X.shape}")
    n = X.shape[3]
    if n == 0:
        raise ValueError(f"{path} holds no images (`X` has shape {X.shape})")
    if y.shape not in ((n, 1), (1, n)):
        raise ValueError(f"`y` in {path} must have shape ({n}, 1), one label per image, got {y.shape}")
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise ValueError(f"`y` in {path} must hold numbers 1..10, got dtype {y.dtype}")
    bad = (y < 1) | (y > 10) | (y != np.round(y))
    if bad.any():
        raise ValueError(f"`y` in {path} must hold labels 1..10 (10 for the digit 0), "
                         f"got {y[bad][0]:g} in {np.count_nonzero(bad)} of {n} labels")
    return X, y, STANDIN_KEY in contents


def _warn_standin(path, what=None):
    """Warn, once per process and `path` (a file or a folder), that it is the synthetic stand-in, not SVHN."""
    key = os.path.realpath(path)
    if key in _warned_standins:
        return
    _warned_standins.add(key)
    what = what or f"{path} is the synthetic stand-in for SVHN made by standin.py"
    warnings.warn(f"{what}, not real data: accuracies measured on it are NOT SVHN results. Get the real files with "
                  f"./download_data.sh", StandInDataWarning, stacklevel=3)


def prepare_for_neural_network(train_X, *others, dtype=np.float32):
    """Scale pixel values to [0, 1] and subtract the mean training image from every set.

    Parameters
    ----------
    train_X : ndarray of shape (n_train, height, width, channels)
        Pixel values in 0..255, integers or finite floats; its mean image is the one subtracted.
    *others : ndarrays of shape (n, height, width, channels)
        Further sets (validation, test) scaled and shifted the same way.
    dtype : float32 or float64
        Dtype of the returned arrays (the mean is computed in float64 either way).

    Returns
    -------
    train_X, *others : ndarrays of the input shapes, `dtype`
        New arrays `X * PIXEL_SCALE - mean_image`; the inputs are not modified.
    mean_image : ndarray of shape (height, width, channels), `dtype`
        The scaled training mean, to add back for display (`plots.misclassified(..., mean_image=...)`) or to
        subtract from new images: `checkpoint.Classifier(model, {"scale": PIXEL_SCALE, "mean_image": mean_image})`
        computes exactly the same arrays from raw images.
    """
    dtype = check_dtype(dtype)
    arrays = [_check_pixels(train_X, "train_X")]
    arrays += [_check_pixels(X, f"others[{i}]", arrays[0].shape[1:]) for i, X in enumerate(others)]
    scaled = [np.multiply(X, PIXEL_SCALE, dtype=dtype) for X in arrays]
    mean_image = scaled[0].mean(axis=0, dtype=np.float64).astype(dtype)
    for X in scaled:
        X -= mean_image
    return (*scaled, mean_image)


def _check_pixels(X, name, image_shape=None):
    """Return `X` as an ndarray of images (n, height, width, channels) of integers or floats."""
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(f"`{name}` must be 4-D (n, height, width, channels), got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
        raise TypeError(f"`{name}` must hold pixel values 0..255 as integers or floats, got dtype {X.dtype}")
    if image_shape is not None and X.shape[1:] != image_shape:
        raise ValueError(f"`{name}` must hold images of the training shape {image_shape}, got {X.shape[1:]}")
    if np.issubdtype(X.dtype, np.floating):
        check_finite(X, name)
    return X


class Dataset:
    """The training and validation splits.

    Parameters
    ----------
    train_X : ndarray of shape (n_train, ...), e.g. (n_train, height, width, channels)
        Float samples must be finite (no NaN, no infinity).
    train_y : ndarray of shape (n_train,), integer class indices >= 0
        One-hot rows, a (n_train, 1) column and float labels are refused (the message says how to convert them).
    val_X : ndarray of shape (n_val, ...)
    val_y : ndarray of shape (n_val,), integer class indices >= 0
    """

    def __init__(self, train_X, train_y, val_X, val_y):
        self.train_X, self.train_y = _check_split(train_X, train_y, "train_X", "train_y")
        self.val_X, self.val_y = _check_split(val_X, val_y, "val_X", "val_y")


def check_dataset(dataset):
    """Return `dataset` after checking it has train_X, train_y, val_X, val_y with one label per sample."""
    names = ("train_X", "train_y", "val_X", "val_y")
    missing = [name for name in names if not hasattr(dataset, name)]
    if missing:
        raise TypeError(f"`dataset` must have the attributes {', '.join(names)} (e.g. a Dataset); "
                        f"{type(dataset).__name__} lacks {', '.join(missing)}")
    _check_split(dataset.train_X, dataset.train_y, "train_X", "train_y")
    _check_split(dataset.val_X, dataset.val_y, "val_X", "val_y")
    return dataset


def _check_split(X, y, x_name, y_name):
    """`X` and `y` as arrays with the same, non-zero number of samples; float samples must be finite."""
    X, y = check_samples(X, y, x_name, y_name)
    if np.issubdtype(X.dtype, np.inexact):
        check_finite(X, x_name)
    return X, _check_class_indices(y, y_name)


def _check_class_indices(y, name):
    """`y` when it is (n_samples,) non-negative integers; one-hot rows, columns and float labels are refused."""
    if y.ndim != 1:
        advice = ("y.ravel()" if y.ndim == 2 and y.shape[1] == 1 else
                  "y.argmax(axis=1) for one-hot rows" if y.ndim == 2 else "one class index per sample")
        raise ValueError(f"`{name}` must be 1-D (n_samples,) class indices, got shape {y.shape}; use {advice}")
    if not np.issubdtype(y.dtype, np.integer):
        advice = "; use y.astype(int)" if y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0) else ""
        raise TypeError(f"`{name}` must hold integer class indices, got dtype {y.dtype}{advice}")
    if y.min() < 0:
        raise ValueError(f"`{name}` must hold class indices >= 0, got {y.min()}")
    return y
