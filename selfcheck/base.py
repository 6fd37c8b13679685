"""What every check of the self-check is made of: the registry, the outcomes, the hints and the numeric tools.

A check is a function of the learner's modules, registered with `@check(...)` under a stable id `Name.method.case`.
It runs in a worker process that imported the learner's modules from their folder (never ours), and it ends in one
of three ways:
- it returns None: `pass`;
- it returns `Info(message)`: `info` (a measurement or a rule that differs from ours but is consistent);
- it raises `CheckFailed(message, hint)`: `fail`, the message saying what was expected, what came and on which
  (smallest) input.
Any other exception comes from the learner's code: the worker reports it as `error` (or `not implemented` for the
template's `raise Exception("Not implemented!")` and for `NotImplementedError`). A check that finds the template's
unfilled stub (code that returns zeros whatever the input) raises `Unimplemented`: `not implemented`.

Check functions import nothing from this repository but this module, numpy and scipy: the oracles they compare
against are written out in their own module (plain loops and formulas), so a learner's module of the same name
can never shadow them.
"""
import contextlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

#: The modules of the assignment, in the order the report lists them.
MODULES = ("layers", "model", "optim", "trainer", "metrics", "dataset", "gradient_check")

#: Every outcome a check can have. `missing`: the module or a name the check needs is not in the learner's folder.
STATUSES = ("pass", "fail", "error", "not implemented", "timeout", "info", "missing")

#: One plain-words hint per known bug class of published solutions; a failing check names the one that fits.
HINTS = {
    "overlapping_windows": "the gradient is wrong only where pooling windows overlap: add each window's gradient "
                           "with += (not =), and keep each window's own maximum (a mask or index that overlapping "
                           "windows share is overwritten by the next one)",
    "tied_maxima": "tied maxima share the gradient in your layer: give the whole gradient of a window to one maximum",
    "rows_columns_swapped": "the result is right on square images only: rows (height, axis 1) and columns (width, "
                            "axis 2) are swapped somewhere",
    "padding_ignored": "the result is right at padding 0 only: backward must work on the padded input that forward "
                       "used (its patches, for W's gradient) and return the gradient of the unpadded input, the "
                       "padded gradient without its border of `padding` pixels on each side",
    "stride_ignored": "the windows do not move by `stride`: window (i, j) starts at row i * stride and column "
                      "j * stride",
    "grad_overwritten": "Param.grad holds only the last pass's gradient: add into it in backward (param.grad += "
                        "...) and never reset it in the layer, not in forward either; the model zeroes it before "
                        "each pass",
    "momentum_ignored": "MomentumSGD ignores its `momentum` argument: store it in __init__ (self.momentum = momentum)",
    "np_float_removed": "numpy removed names that old code uses: np.float, np.int, np.bool, np.object (numpy 1.24; "
                        "use float, int, bool, object or np.float64, np.int64) and np.product, np.float_, np.NaN, "
                        "np.Inf, np.sometrue, np.alltrue, ... (numpy 2.0; use np.prod, np.float64, np.nan, np.inf, "
                        "np.any, np.all, ...)",
    "grads_not_zeroed": "the gradients pile up from one call to the next: compute_loss_and_gradients must set "
                        "every Param.grad to zero before its forward pass",
    "loss_sum_not_mean": "the loss or its gradient is the batch's sum: softmax_with_cross_entropy returns the mean "
                         "loss over the batch, and its gradient divided by the batch size",
    "np_reshape_newshape": "np.reshape's newshape= keyword was removed in numpy 2.4 (deprecated since 2.1): pass "
                           "the shape positionally, np.reshape(a, shape)",
    "init_scale": "the loss at initialisation is far above ln 10 = 2.30: weights with unit variance make huge "
                  "scores; scale them, e.g. by sqrt(2 / fan_in)",
    "epoch_loss_last_batch": "the epoch's loss is the last batch's loss: record the mean of the epoch's batch losses",
    "global_rng_reseeded": "the data loader reseeds numpy's global random generator (np.random.seed): use a local "
                           "np.random.RandomState(seed) or np.random.default_rng(seed)",
    "slow_loops": "loops over pixels in Python are slow: vectorize with reshapes and matrix products (im2col)",
}


class Unimplemented(Exception):
    """A check's verdict `not implemented` for code that runs but is the template's unfilled stub (it returns the
    same zeros whatever the input); `message` says what it returned."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class CheckFailed(Exception):
    """A check's verdict `fail`: `message` says what was expected and what came; `hint` is a key of HINTS or None."""

    def __init__(self, message, hint=None):
        if hint is not None and hint not in HINTS:
            raise ValueError(f"`hint` must be one of {sorted(HINTS)} or None, got {hint!r}")
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Info:
    """A check's outcome `info`: a measurement, or a rule of the learner's that differs from ours but is consistent."""
    message: str


@dataclass(frozen=True)
class Timing:
    """What a speed check returns: the median seconds of the timed work, and what that work was.

    The runner times the same check on our modules too, both on one BLAS thread, and reports both, with their
    ratio, as `info`.
    """
    seconds: float
    what: str


@dataclass(frozen=True)
class Check:
    """One registered check: `function(modules)` where `modules.layers` etc. are the learner's imported modules."""
    id: str
    module: str
    needs: tuple
    description: str
    function: Callable
    speed: bool = False


#: Every check, by id, in registration order (the order of the report).
REGISTRY = {}


def check(check_id, needs, description, speed=False):
    """Register the decorated function as the check `check_id` ("Name.method.case").

    Parameters
    ----------
    check_id : str
        Stable id of three dot-separated parts, e.g. "MaxPoolingLayer.backward.overlapping".
    needs : sequence of str
        "module.name" for every name the check uses, e.g. ("layers.MaxPoolingLayer",); the first one's module is
        the module the check belongs to. A check whose needs are missing ends as `missing` without running.
    description : str
        One line for the README and `--list`: what the check verifies.
    speed : bool
        True for a timing check that returns `Timing`.
    """
    parts = check_id.split(".")
    if len(parts) != 3 or not all(part.isidentifier() for part in parts):
        raise ValueError(f"`check_id` must be 'Name.method.case', got {check_id!r}")
    if check_id in REGISTRY:
        raise ValueError(f"check {check_id!r} is registered twice")
    needs = tuple(needs)
    module = needs[0].split(".")[0]
    if module not in MODULES:
        raise ValueError(f"`needs` must start with a module of {MODULES}, got {needs[0]!r}")

    def register(function):
        REGISTRY[check_id] = Check(check_id, module, needs, description, function, speed)
        return function
    return register


@contextlib.contextmanager
def on_input(case):
    """Mark an exception of the learner's code raised inside with the input it came on (`case`, from `describe`):
    the worker adds it to the `error` message. CheckFailed and already marked exceptions pass unchanged."""
    try:
        yield
    except Exception as error:
        if not isinstance(error, CheckFailed) and not hasattr(error, "check_input"):
            try:
                error.check_input = case
            except AttributeError:  # an exception type that takes no attributes: left unmarked
                pass
        raise


def numeric_gradient(f, x, delta=1e-6):
    """Central-difference gradient of the scalar function f at x, in float64.

    Parameters
    ----------
    f : callable
        f(x) -> float; x is a float64 array of x's shape (a fresh copy each call).
    x : ndarray of any shape

    Returns
    -------
    ndarray of x's shape, float64
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += delta
        minus[index] -= delta
        grad[index] = (float(f(plus)) - float(f(minus))) / (2 * delta)
    return grad


def describe(**case):
    """The input of a case in one line, e.g. "batch 1, 5x4 images, 2 channels, pool 3, stride 2"."""
    return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in case.items())


def assert_close(what, expected, got, case, rtol=1e-5, atol=1e-7, hint=None):
    """Raise CheckFailed unless `got` has `expected`'s shape and values (to rtol/atol); say where they differ most.

    Parameters
    ----------
    what : str
        What is compared, e.g. "MaxPoolingLayer.backward's gradient".
    expected, got : array_like
    case : str
        The input, from `describe`.
    """
    got_array = np.asarray(got)
    expected = np.asarray(expected, dtype=np.float64)
    if got_array.shape != expected.shape:
        raise CheckFailed(f"{what}: expected shape {expected.shape}, got {got_array.shape} (input: {case})", hint)
    if not np.issubdtype(got_array.dtype, np.number) and got_array.dtype != bool:
        raise CheckFailed(f"{what}: expected numbers, got an array of {got_array.dtype} (input: {case})", hint)
    got_array = got_array.astype(np.float64)
    error = np.abs(got_array - expected)
    bad = ~(error <= atol + rtol * np.abs(expected))  # NaN counts as bad
    if bad.any():
        worst = np.unravel_index(np.argmax(np.where(np.isnan(error), np.inf, error)), expected.shape)
        raise CheckFailed(f"{what}: {int(bad.sum())} of {expected.size} values differ, the largest at index "
                          f"{tuple(int(i) for i in worst)}: expected {expected[worst]:.6g}, got {got_array[worst]:.6g}"
                          f" (input: {case})", hint)
