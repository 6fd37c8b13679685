"""Checks of the learner's MaxPoolingLayer (layers.py): forward against loop window maxima, backward against the
numeric gradient when windows are disjoint and when they overlap, the tie rule, and a timing.

Cases come in pairs, a square image then a non-square one, smallest first, with pool size / stride pairs that
overlap and sizes that do not divide; the backward checks judge backward only where the learner's forward pass is
right. Registered after layers.py's checks, so that the report lists them after the other layers'.
"""
from collections import namedtuple

import numpy as np

from selfcheck import oracles
from selfcheck.base import CheckFailed, Info, assert_close, describe, numeric_gradient, on_input
from selfcheck.checks.layer_tools import (
    ATOL,
    RTOL,
    SPEED_BATCH,
    SPEED_SIZE,
    ForwardWrong,
    check_no_params,
    checked_array,
    forward_before_backward,
    layer_check,
    run_backward,
    run_cases,
    tie_rule,
    tied_windows,
    time_passes,
)

PoolCase = namedtuple("PoolCase", "pool_size stride batch height width channels")
POOL_CASES = (
    PoolCase(2, 2, 1, 4, 4, 1), PoolCase(2, 2, 1, 4, 6, 1),
    PoolCase(2, 2, 2, 5, 5, 2), PoolCase(2, 2, 2, 5, 7, 2),
    PoolCase(3, 3, 1, 7, 7, 2), PoolCase(3, 3, 1, 7, 8, 2),
    PoolCase(2, 3, 1, 8, 8, 1), PoolCase(2, 3, 1, 8, 7, 1),
    PoolCase(3, 2, 1, 5, 5, 1), PoolCase(3, 2, 1, 5, 8, 1),
    PoolCase(3, 2, 2, 7, 7, 3), PoolCase(3, 2, 2, 7, 6, 3),
    PoolCase(2, 1, 1, 3, 3, 2), PoolCase(2, 1, 1, 3, 5, 2),
)
POOL_DISJOINT_CASES = tuple(case for case in POOL_CASES if case.stride >= case.pool_size)
POOL_OVERLAPPING_CASES = tuple(case for case in POOL_CASES if case.stride < case.pool_size)
POOL_SPEED_CHANNELS = 16


def _pool_problem(modules, case, seed):
    """The learner's MaxPoolingLayer for `case` and an input of distinct values (no ties) 0.1 apart or more."""
    shape = (case.batch, case.height, case.width, case.channels)
    size = int(np.prod(shape))
    X = (np.random.default_rng(seed).permutation(size).reshape(shape) - size / 2) / 10
    return modules.layers.MaxPoolingLayer(case.pool_size, case.stride), X


def _pool_output_shape(case):
    out_height, out_width = oracles.pool_output_size((case.height, case.width), case.pool_size, case.stride)
    return case.batch, out_height, out_width, case.channels


@layer_check("MaxPoolingLayer.forward.values", needs=("layers.MaxPoolingLayer",),
              description="forward equals loop window maxima: pool/stride 2/2, 3/3, 2/3, 3/2 and 2/1 (overlapping), "
                          "sizes that do not divide, non-square images")
def _pool_forward(modules):
    def check_one(seeded):
        seed, case = seeded
        layer, X = _pool_problem(modules, case, seed)
        text = describe(**case._asdict())
        assert_close("MaxPoolingLayer.forward", oracles.max_pool(X, case.pool_size, case.stride),
                     _pool_forward_output(layer, X, case, text), text, RTOL, ATOL)
    run_cases(list(enumerate(POOL_CASES, start=60)), check_one, lambda seeded: seeded[1], _fitting)


def _pool_forward_output(layer, X, case, text):
    """The learner's pooling of X, checked to be a numeric array of the output shape `(H - pool_size) // stride + 1`.

    An output that is the pooling with the windows moved by the pool size, or by 1 pixel, instead of the stride
    fails with the hint stride_ignored; one that is the right pooling with rows and columns swapped, with the hint
    rows_columns_swapped.
    """
    out = layer.forward(X.copy())
    expected_shape = _pool_output_shape(case)
    by_stride = oracles.max_pool(X, case.pool_size, case.stride)
    by_pool_size = oracles.max_pool(X, case.pool_size, case.pool_size)  # its own output size
    by_one = oracles.max_pool(X, case.pool_size, 1)[:, :expected_shape[1], :expected_shape[2]]  # the right size
    for step, name, moved_by_step in ((case.pool_size, f"pool_size {case.pool_size}", by_pool_size),
                                      (1, "1 pixel", by_one)):
        # With one window per axis the windows moved by any step are the same one, and an output that is also the
        # first windows moved by the stride says nothing of the step either.
        if (step != case.stride and isinstance(out, np.ndarray) and out.shape == moved_by_step.shape
                and max(moved_by_step.shape[1:3]) > 1 and out.dtype.kind in "biuf"
                and np.allclose(out, moved_by_step, RTOL, ATOL)
                and not _same(out, by_stride[:, :out.shape[1], :out.shape[2]])):
            raise CheckFailed(f"MaxPoolingLayer.forward: expected an array of shape {expected_shape} holding the "
                              f"maxima of windows moved by stride {case.stride}, got shape {out.shape} holding those "
                              f"of windows moved by {name} (input: {text})", "stride_ignored")
    if isinstance(out, np.ndarray) and out.dtype.kind in "biuf" and out.shape != expected_shape:
        raise CheckFailed(f"MaxPoolingLayer.forward: expected an array of shape {expected_shape}, got shape "
                          f"{out.shape}: the output's height and width are (H - pool_size) // stride + 1 "
                          f"(input: {text})")
    out = checked_array(out, "MaxPoolingLayer.forward", expected_shape, text)
    transposed = by_stride.transpose(0, 2, 1, 3)
    if transposed.shape == out.shape and not _same(out, by_stride) and _same(out, transposed):
        raise CheckFailed(f"MaxPoolingLayer.forward: the output is the expected one with its rows and columns "
                          f"swapped, out[:, x, y] where out[:, y, x] belongs (input: {text})", "rows_columns_swapped")
    return out


def _same(a, b):
    """Whether the arrays a and b have one shape and close values."""
    return a.shape == b.shape and bool(np.allclose(a, b, RTOL, ATOL))


def _check_pool_forward(layer, X, case, text):
    """The learner's forward pass before a backward one: CheckFailed when it is wrong on X (backward cannot be
    judged then), with no hint of a backward bug."""
    out = forward_before_backward(lambda: _pool_forward_output(layer, X, case, text))
    if not np.allclose(out, oracles.max_pool(X, case.pool_size, case.stride), RTOL, ATOL):
        raise ForwardWrong(f"MaxPoolingLayer.forward is wrong on this input (see MaxPoolingLayer.forward.values), "
                           f"so backward was not checked (input: {text})")


def _check_pool_backward(modules, cases):
    """The learner's pooling gradient against the numeric one on inputs without ties; the first mismatch fails,
    diagnosed."""
    run_cases(list(enumerate(cases, start=80)), lambda seeded: _compare_pool_gradient(modules, seeded[1], seeded[0]),
               lambda seeded: seeded[1], _fitting)


def _fitting(seeded):
    """(seed, case) of the same orientation as the non-square case of `seeded` with height and width that the stride
    fits ((size - pool_size) % stride == 0, one pixel less or more), or None when there is none."""
    seed, case = seeded

    def fit(size):
        return next((n for n in (size, size - 1, size + 1) if n >= case.pool_size
                     and (n - case.pool_size) % case.stride == 0), None)
    height, width = fit(case.height), fit(case.width)
    if height is None or width is None or height == width or (height > width) != (case.height > case.width):
        return None
    return seed, case._replace(height=height, width=width)


def _compare_pool_gradient(modules, case, seed):
    """One case of `_check_pool_backward`; diagnoses "wrong only at pixels inside two or more windows"."""
    text = describe(**case._asdict())
    layer, X = _pool_problem(modules, case, seed)
    _check_pool_forward(layer, X, case, text)
    d_out = np.random.default_rng(seed).standard_normal(_pool_output_shape(case))
    got = run_backward(layer, d_out, "MaxPoolingLayer", X.shape, text)
    expected = numeric_gradient(lambda x: np.sum(oracles.max_pool(x, case.pool_size, case.stride) * d_out), X)
    try:
        assert_close("MaxPoolingLayer.backward's gradient", expected, got, text, RTOL, ATOL)
    except CheckFailed as failure:
        wrong_pixels = (~np.isclose(got, expected, RTOL, ATOL)).any(axis=(0, 3))
        covering = oracles.windows_covering((case.height, case.width), case.pool_size, case.stride)
        if (covering[wrong_pixels] >= 2).all():
            raise CheckFailed(f"{failure.message}; every wrong value is at a pixel inside two or more windows",
                              "overlapping_windows") from None
        raise


@layer_check("MaxPoolingLayer.backward.disjoint", needs=("layers.MaxPoolingLayer",),
              description="backward equals the numeric gradient when windows do not overlap (pool/stride 2/2, 3/3, "
                          "2/3), sizes that do not divide, non-square images")
def _pool_backward_disjoint(modules):
    _check_pool_backward(modules, POOL_DISJOINT_CASES)


@layer_check("MaxPoolingLayer.backward.overlapping", needs=("layers.MaxPoolingLayer",),
              description="backward equals the numeric gradient when windows overlap (pool/stride 3/2, 2/1): a pixel "
                          "that is the maximum of two windows gets both gradients")
def _pool_backward_overlapping(modules):
    _check_pool_backward(modules, POOL_OVERLAPPING_CASES)


@layer_check("MaxPoolingLayer.backward.tied_maxima", needs=("layers.MaxPoolingLayer",),
              description="a window with tied maxima gives its whole gradient to one of them (info when the rule "
                          "differs but is consistent: an equal split, or all of it to each)")
def _pool_ties(modules):
    X, maxima = tied_windows()
    case = "batch 1, height 4, width 6, channels 2, pool size 2, stride 2; windows with 1 to 4 equal maxima"
    layer = modules.layers.MaxPoolingLayer(2, 2)
    d_out = np.random.default_rng(7).uniform(0.5, 1.5, (1, 2, 3, 2)) * np.array([1, -1])
    with on_input(case):
        _check_pool_forward(layer, X, PoolCase(2, 2, 1, 4, 6, 2), case)
        got = run_backward(layer, d_out, "MaxPoolingLayer", X.shape, case)
    rules = set()
    for (y, x, channel), window_maxima in maxima.items():
        window = got[0, 2 * y:2 * y + 2, 2 * x:2 * x + 2, channel].reshape(-1)
        rule = tie_rule(window, window_maxima, d_out[0, y, x, channel])
        where = (f"the window at rows {2 * y}-{2 * y + 1}, columns {2 * x}-{2 * x + 1}, channel {channel} "
                 f"({window_maxima.sum()} equal maxima), d_out {d_out[0, y, x, channel]:.4g}: got {window.round(4)}")
        if rule is None or (window_maxima.sum() == 1 and rule != "one"):
            raise CheckFailed(f"MaxPoolingLayer.backward: expected the window's whole gradient on one of its maxima "
                              f"and 0 elsewhere, in {where} (input: {case})",
                              "tied_maxima" if window_maxima.sum() > 1 else None)
        if window_maxima.sum() > 1:
            rules.add(rule)
    if len(rules) > 1:
        raise CheckFailed(f"MaxPoolingLayer.backward treats tied maxima by several rules ({', '.join(sorted(rules))} "
                          f"of: one maximum gets it all, an equal split, all of it to each) (input: {case})",
                          "tied_maxima")
    if rules == {"split"}:
        return Info("MaxPoolingLayer.backward splits a window's gradient equally among its tied maxima; ours gives "
                    "it all to one maximum. Both keep each window's total gradient (ties are where the gradient is "
                    "not defined)")
    if rules == {"each"}:
        return Info("MaxPoolingLayer.backward gives a window's whole gradient to each of its tied maxima (the rule "
                    "of a mask X == max): k tied maxima pass k times the gradient, e.g. on the zeros after a ReLU; "
                    "ours gives it all to one maximum")
    return None


@layer_check("MaxPoolingLayer.params.empty", needs=("layers.MaxPoolingLayer",), description="params() is {}")
def _pool_params(modules):
    check_no_params(modules.layers.MaxPoolingLayer(2, 2), "MaxPoolingLayer")


@layer_check("MaxPoolingLayer.speed.svhn_batch", needs=("layers.MaxPoolingLayer",), speed=True,
              description="seconds for forward + backward of 64 inputs 32x32x16, pool 4, stride 4")
def _pool_speed(modules):
    X = _pool_problem(modules, PoolCase(4, 4, SPEED_BATCH, SPEED_SIZE, SPEED_SIZE, POOL_SPEED_CHANNELS), 9)[1]
    d_out = np.random.default_rng(9).standard_normal((SPEED_BATCH, SPEED_SIZE // 4, SPEED_SIZE // 4,
                                                      POOL_SPEED_CHANNELS))
    layer = modules.layers.MaxPoolingLayer(4, 4)
    return time_passes(layer, X, d_out, "MaxPoolingLayer", f"forward + backward of {SPEED_BATCH} inputs "
                        f"{SPEED_SIZE}x{SPEED_SIZE}x{POOL_SPEED_CHANNELS}, pool 4, stride 4")
