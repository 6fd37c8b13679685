"""Argument checkers shared by every public entry point.

Each checker raises before any state changes: `TypeError` for a value of the wrong type, `ValueError` for a
value of the right type that breaks a rule. Messages name the argument, state the rule and echo what came.
"""
import argparse
import numbers
import os
import sys

import numpy as np


def check_int(value, name, minimum):
    """Return `value` as an int, requiring an integer (not a bool) that is at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        rule = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"`{name}` must be {rule}, got {value}")
    return int(value)


def check_number(value, name, minimum=None, maximum=None, strict_minimum=False):
    """Return `value` as a finite float inside the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    too_small = minimum is not None and (value <= minimum if strict_minimum else value < minimum)
    too_large = maximum is not None and value > maximum
    if not np.isfinite(value) or too_small or too_large:
        low = "" if minimum is None else f"{'>' if strict_minimum else '>='} {minimum}"
        high = "" if maximum is None else f"<= {maximum}"
        rule = " and ".join(part for part in (low, high) if part) or "finite"
        raise ValueError(f"`{name}` must be a finite number {rule}, got {value}")
    return value


def check_float_array(X, name, ndim=None):
    """Return `X` as an ndarray of a floating dtype with `ndim` dimensions (any when None).

    Integer, boolean and object arrays are refused rather than converted: images arrive as uint8 and a silent
    conversion would hide a missing `/ 255` scaling step.
    """
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as error:
            raise TypeError(f"`{name}` must be an array of floats, got {type(X).__name__}: {error}") from None
    if X.dtype not in (np.float32, np.float64):
        raise TypeError(f"`{name}` must be an array of floats (float32 or float64), got dtype {X.dtype}; "
                        f"convert it first, e.g. `{name}.astype(np.float32)`")
    if ndim is not None and X.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimensions, got {X.ndim} (shape {X.shape})")
    return X


def check_finite(X, name):
    """Return the float array `X` after checking that it holds no NaN and no infinity.

    The common case costs one reduction over `X`: only when its sum is not finite are the bad values counted
    (a sum can also overflow to infinity on finite values near the dtype's limit; those pass).
    """
    if np.isfinite(np.add.reduce(X, axis=None)):
        return X
    n_bad = X.size - np.count_nonzero(np.isfinite(X))
    if n_bad:
        raise ValueError(f"`{name}` must hold finite values only, got {n_bad} NaN or infinite "
                         f"value{'s' if n_bad > 1 else ''} out of {X.size}")
    return X


def check_images(X, name, channels=None):
    """Return `X` as a float array of shape (batch, height, width, channels), NHWC."""
    if isinstance(X, np.ndarray) and X.ndim != 4:
        raise ValueError(f"`{name}` must be 4-D (batch, height, width, channels), got shape {X.shape}")
    X = check_float_array(X, name, ndim=4)
    if channels is not None and X.shape[3] != channels:
        raise ValueError(f"`{name}` must have {channels} channels in its last axis (NHWC), "
                         f"got {X.shape[3]} (shape {X.shape})")
    return X


def check_labels(y, name, n_classes, length=None):
    """Return `y` as a 1-D int64 array of class indices in [0, n_classes), of `length` entries when given.

    A column (length, 1) is accepted and flattened, as are a scalar (one sample) and integral floats.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    y = np.atleast_1d(y)
    if y.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D (batch,) class indices, got shape {y.shape}")
    if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"`{name}` must hold integer class indices, got dtype {y.dtype}")
    if length is not None and y.shape[0] != length:
        raise ValueError(f"`{name}` must have one label per sample ({length}), got {y.shape[0]}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)][0]
        raise ValueError(f"`{name}` must hold class indices in [0, {n_classes}), got {bad}")
    return y.astype(np.int64, copy=False)


def check_samples(X, y, x_name="X", y_name="y"):
    """Return `X` and `y` as arrays with the same, non-zero number of samples along their first axis."""
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"`{x_name}` and `{y_name}` must be arrays of samples, one entry per sample, "
                         f"got shapes {X.shape} and {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"`{x_name}` and `{y_name}` must have the same number of samples, "
                         f"got {X.shape[0]} and {y.shape[0]}")
    if X.shape[0] == 0:
        raise ValueError(f"`{x_name}` must hold at least one sample, got shape {X.shape}")
    return X, y


def check_dtype(dtype, name="dtype"):
    """Return `dtype` as float32 or float64, the two dtypes the package computes in."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"`{name}` must be float32 or float64, got {dtype!r}") from None
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"`{name}` must be float32 or float64, got {dtype}")
    return dtype


def check_rng(seed, name="seed"):
    """Return a `numpy.random.Generator`: a new one for None or an int seed, the same one when given one.

    The global numpy RNG is never touched.
    """
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"`{name}` must be None, an integer or a numpy.random.Generator, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"`{name}` must be a non-negative integer, got {seed}")
    return np.random.default_rng(int(seed))


def check_output_file(path, name="path"):
    """Return `path` (a str or os.PathLike) as a str naming a file that can be written: not a directory, in a
    directory that exists. Checked before any work starts, so that a long run cannot fail at its first save."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if not path or os.path.isdir(path):
        raise IsADirectoryError(f"`{name}` must name a file, got the directory {path!r}; "
                                f"add a file name, e.g. {os.path.join(path or '.', 'model.npz')!r}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"`{name}` {path!r}: directory {directory} does not exist; create it first")
    return path


def int_at_least(minimum):
    """argparse type: an integer >= `minimum`, e.g. `add_argument("--epochs", type=int_at_least(1))`."""
    rule = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")

    def parse(text):
        return parse_argument(text, int, rule, lambda value: value >= minimum)
    return parse


def one_line(message):
    """`message` as one line: every run of whitespace, newlines included, becomes one space."""
    return " ".join(str(message).split())


def say(prog, message):
    """Print `PROG: message` on stderr, after everything printed so far on stdout."""
    sys.stdout.flush()
    print(f"{prog}: {message}", file=sys.stderr, flush=True)


def parse_argument(text, kind, rule, is_valid):
    """A command-line value: `kind(text)` when `is_valid` accepts it, else argparse's one-line usage error.

    Example: `type=lambda text: parse_argument(text, int, "a positive integer", lambda value: value >= 1)`.
    """
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not is_valid(value):
        raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr, `PROG: error: MESSAGE (see --help)`, without the
    usage block, and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see --help)\n")
