"""What the checks of the learner's layers.py (checks/layers.py) are made of, besides the oracles.

- `layer_check`: the registration of a check that leaves numpy's global random state as it found it;
- `Problem` and `check_forward_values`, `check_gradient`, `check_accumulation`: a layer with random X, W, B, its
  forward pass against the oracle, its gradients against the oracle's numeric ones, two passes summed in Param.grad;
- `checked_array`, `checked_number`, `checked_pair`, `run_forward`, `run_backward`, `check_param_shapes`, ...: the
  learner's results checked to have the contract's type and shape, a `CheckFailed` saying what came otherwise;
- `run_cases`: every case run smallest first, the first failure raised, diagnosed as rows and columns swapped when
  only non-square cases fail (or raise where their square twin passed);
- `time_passes`: the timing of a layer's forward and backward pass, for the speed checks;
- `tied_windows`, `tie_rule`: an input whose pooling windows hold tied maxima, and how a backward pass shared a
  window's gradient among them.
"""
import functools
import os
import sysconfig
import time
import traceback
from collections import namedtuple

import numpy as np

from selfcheck.base import CheckFailed, Timing, assert_close, check, describe, numeric_gradient, on_input

# Learners' results are compared with these tolerances: loose enough for float32 arithmetic inside their layers,
# far tighter than the error any known bug makes.
RTOL, ATOL = 1e-4, 1e-6

# One batch of SVHN-sized images for the timings: the input of the notebook's ConvNet, and its first pooling's.
SPEED_BATCH, SPEED_SIZE = 64, 32

# A layer whose pass over one image, times the batch, exceeds this many seconds is timed on that one image only and
# its batch time estimated: a per-element Python loop then ends well inside the runner's 30 s limit.
SPEED_ESTIMATE_ABOVE = 10.0


def layer_check(check_id, needs, description, speed=False):
    """`base.check` for a check that leaves numpy's global random state as it found it.

    The template's layers draw their initial weights from `np.random`; the data loader's check measures that state.
    """
    def register(function):
        @functools.wraps(function)
        def keeping_global_rng(modules):
            state = np.random.get_state()
            try:
                return function(modules)
            finally:
                np.random.set_state(state)
        check(check_id, needs, description, speed)(keeping_global_rng)
        return function
    return register


class ForwardWrong(CheckFailed):
    """A backward check's verdict when the learner's forward pass is already wrong on the input: backward was not
    judged, so no diagnosis of a backward bug (rows and columns included) applies."""


# A learner's layer for one case, our random X, W, B of the contract's shapes, and the oracle forward(X, W, B).
Problem = namedtuple("Problem", "layer X W B forward case")


def _run_pass(problem, name, d_out, X=None, expected_output=None):
    """Forward with our W and B set as the notebook sets them, then backward of d_out, on the learner's layer.

    Returns (d_input, W.grad, B.grad): d_input checked to be a numeric array of X's shape, the grads as the
    learner left them (copies of arrays), for the check that reads one to judge it. The forward output is checked
    for its shape only: d_out must have it.
    """
    X = problem.X if X is None else X
    case = describe(**problem.case._asdict())
    W, B = _params(problem.layer, name, case)
    W.value, B.value = problem.W.copy(), problem.B.copy()
    output = forward_before_backward(lambda: run_forward(problem.layer, X, name, d_out.shape, case))
    if expected_output is not None and not np.allclose(output, expected_output, RTOL, ATOL):
        raise ForwardWrong(f"{name}.forward is wrong on this input (see {name}.forward.values), so backward was not "
                           f"checked (input: {case})")
    d_input = run_backward(problem.layer, d_out, name, X.shape, case)
    return (d_input, *(grad.copy() if isinstance(grad, np.ndarray) else grad for grad in (W.grad, B.grad)))


def _grad(value, name, param, shape, case, squeezed=False):
    """A learner's `param`.grad checked to be a numeric array of its value's `shape`, as a float64 copy.

    squeezed: also take a grad whose shape differs from `shape` by axes of length 1 only, reshaped to `shape`.
    """
    if isinstance(value, np.ndarray) and value.shape != tuple(shape):
        if squeezed and [n for n in value.shape if n != 1] == [n for n in shape if n != 1]:
            value = value.reshape(shape)
        else:
            raise CheckFailed(f"{name}: {param}.grad must have the shape of {param}.value, {tuple(shape)}, got shape "
                              f"{value.shape}: a Param's grad always has its value's shape (input: {case})")
    return checked_array(value, f"{name}: {param}.grad", shape, case)


def check_forward_values(problems, name, diagnose=None):
    """The learner's forward of every problem against the oracle; the first mismatch fails, diagnosed.

    diagnose(problem, output) -> str or None: what the learner's wrong output is the result of, when known.
    """
    def check_one(problem):
        case = describe(**problem.case._asdict())
        expected = problem.forward(problem.X, problem.W, problem.B)
        W, B = _params(problem.layer, name, case)
        made_with = [np.array(W.value, dtype=np.float64), np.array(B.value, dtype=np.float64)]
        W.value, B.value = problem.W.copy(), problem.B.copy()
        output = run_forward(problem.layer, problem.X, name, expected.shape, case)
        reason = None
        if not np.allclose(output, expected, RTOL, ATOL):
            reason = _made_with(problem, output, *made_with) or (diagnose and diagnose(problem, output))
        if reason:
            raise CheckFailed(f"{name}.forward: {reason} (input: {case})")
        assert_close(f"{name}.forward", expected, output, case, RTOL, ATOL)
    run_cases(problems, check_one, lambda problem: problem.case)


def of_weights(problem, output, W, B):
    """Whether `output` is the oracle's forward of the problem's X with the weights W and B (of the right sizes)."""
    if W.shape != problem.W.shape or B.size != problem.B.size:
        return False
    return bool(np.allclose(output, problem.forward(problem.X, W, B.reshape(problem.B.shape)), RTOL, ATOL))


def _made_with(problem, output, W, B):
    """The reason of a wrong forward output that is the oracle's with the weights the layer was made with, or None."""
    if not of_weights(problem, output, W, B):
        return None
    return ("the output of the weights the layer was made with: it ignores W.value and B.value set by the caller (the "
            "notebook sets them); read self.W.value and self.B.value in forward, do not keep copies made in __init__")


def check_gradient(problems, name, which):
    """The learner's gradient `which` ("input", "W" or "B") against the numeric gradient of the oracle, for every
    problem; the first mismatch fails, diagnosed."""
    position = {"input": 0, "W": 1, "B": 2}[which]
    run_cases(list(enumerate(problems)),
               lambda seeded: _compare_gradient(seeded[1], name, which, position, seeded[0]),
               lambda seeded: seeded[1].case)


def _compare_gradient(problem, name, which, position, seed):
    """One problem of `check_gradient`: `position` indexes (X, W, B); `seed` draws its d_out. A forward pass that is
    wrong on the problem fails the check without judging backward (the numeric gradient is the oracle's)."""
    case = describe(**problem.case._asdict())
    arrays = [problem.X, problem.W, problem.B]
    d_out = np.random.default_rng(seed).standard_normal(problem.forward(*arrays).shape)
    # A learner's parameter made in another shape than the contract's (B of (1, C)), whose grad keeps that shape,
    # has its grad judged squeezed: params.shapes reports the shape.
    own_shape = None if which == "input" else np.shape(_params(problem.layer, name, case)[position - 1].value)
    got = _run_pass(problem, name, d_out, expected_output=problem.forward(*arrays))[position]
    if which != "input":
        got = _grad(got, name, which, arrays[position].shape, case,
                    squeezed=own_shape != arrays[position].shape and np.shape(got) == own_shape)

    def loss(value):
        return np.sum(problem.forward(*arrays[:position], value, *arrays[position + 1:]) * d_out)
    assert_close(f"{name}.backward's gradient with respect to {which}", numeric_gradient(loss, arrays[position]),
                 got, case, RTOL, ATOL)


def check_accumulation(make_problem, name):
    """Two backward passes into the same layer must leave the sum of their parameter gradients in Param.grad.

    The learner's own single-pass gradients are the reference, so only the accumulation is tested here, W before B;
    a grad of the wrong shape is B_grad's or W_grad's to report: one that only lacks an axis of length 1 is judged.
    """
    first, second = make_problem(), make_problem()
    rng = np.random.default_rng(5)
    X2 = rng.standard_normal(first.X.shape)
    out_shape = first.forward(first.X, first.W, first.B).shape
    d_out1, d_out2 = rng.standard_normal(out_shape), rng.standard_normal(out_shape)
    passes = [_run_pass(second, name, d_out2, X=X2)[1:], _run_pass(first, name, d_out1)[1:],
              _run_pass(first, name, d_out2, X=X2)[1:]]
    case = describe(**first.case._asdict()) + ", two forward/backward passes"
    for index, (param, shape) in enumerate((("W", first.W.shape), ("B", first.B.shape))):
        last, single, total = (_grad(grads[index], name, param, shape, case, squeezed=True) for grads in passes)
        if np.allclose(total, last, RTOL, ATOL) and not np.allclose(single, 0, RTOL, ATOL):
            raise CheckFailed(f"{name}: after two backward passes {param}.grad holds the second pass's gradient "
                              f"only, expected the sum of both (input: {case})", "grad_overwritten")
        assert_close(f"{name}: {param}.grad after two backward passes (expected the sum of both passes' "
                     "gradients)", single + last, total, case, RTOL, ATOL)


def checked_array(value, what, shape, case):
    """`value` as a float64 copy, after checking it is a numeric ndarray of `shape`; CheckFailed otherwise."""
    shape = tuple(shape)
    if not isinstance(value, np.ndarray):
        got = "None" if value is None else f"a {type(value).__name__}"
        raise CheckFailed(f"{what}: expected an array of shape {shape}, got {got} (input: {case})")
    if value.dtype.kind not in "biuf":
        raise CheckFailed(f"{what}: expected an array of numbers, got one of dtype {value.dtype} (input: {case})")
    if value.shape != shape:
        swapped = len(shape) == 4 and shape[1] != shape[2] and value.shape == (shape[0], shape[2], shape[1], shape[3])
        raise CheckFailed(f"{what}: expected an array of shape {shape}, got shape {value.shape} (input: {case})",
                          "rows_columns_swapped" if swapped else None)
    return value.astype(np.float64)


def checked_number(value, what, case):
    """`value` as a float after checking it is one real number (a Python or numpy scalar, or a size-1 array)."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf" or array.size != 1:
        raise CheckFailed(f"{what}: expected a float, got {type(value).__name__} {value!r:.80} (input: {case})")
    return float(array.reshape(()))


def checked_pair(result, what, case):
    """The two entries of a function's (value, gradient) result; CheckFailed when it is not a pair."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{what}: expected a pair (loss, gradient), got {type(result).__name__} {result!r:.80} "
                          f"(input: {case})")
    return result


def run_forward(layer, X, name, shape, case):
    """The learner's `layer.forward` of a copy of X (ours stays as it was), checked to be a numeric array of
    `shape`."""
    return checked_array(layer.forward(X.copy()), f"{name}.forward", shape, case)


def forward_before_backward(forward):
    """Call and return `forward()`, the learner's checked forward pass whose output shape is that of the d_out to
    come."""
    try:
        return forward()
    except CheckFailed as failure:
        # A hint of the forward pass's own (height and width swapped, a stride ignored) stands; without one, the
        # failure is the forward pass's, and no diagnosis of the backward checks' cases applies.
        kind = CheckFailed if failure.hint else ForwardWrong
        raise kind(f"{failure.message}; backward takes a d_out of the forward output's shape, so it was not "
                   "checked", failure.hint) from None


def run_backward(layer, d_out, name, shape, case):
    """The learner's `layer.backward` of a copy of d_out, checked to be a numeric array of `shape`."""
    return checked_array(layer.backward(d_out.copy()), f"{name}.backward", shape, case)


def _params(layer, name, case):
    """The learner's params()["W"] and ["B"], checked to be a dict of exactly those with .value and .grad."""
    params = layer.params()
    if not isinstance(params, dict) or set(params) != {"W", "B"}:
        got = sorted(params) if isinstance(params, dict) else f"a {type(params).__name__}"
        raise CheckFailed(f"{name}.params(): expected a dict with the keys 'W' and 'B', got {got} (input: {case})")
    for key, param in params.items():
        if not (hasattr(param, "value") and hasattr(param, "grad")):
            raise CheckFailed(f"{name}.params()['{key}']: expected a Param (with .value and .grad), got "
                              f"{type(param).__name__} (input: {case})")
    return params["W"], params["B"]


def check_param_shapes(layer, name, W_shape, B_shape, case):
    """params() of a fresh layer: W and B with the contract's shapes, their grads zeros of the same shapes."""
    W, B = _params(layer, name, case)
    for key, param, shape in (("W", W, W_shape), ("B", B, B_shape)):
        checked_array(param.value, f"{name}.params()['{key}'].value", shape, case)
        assert_close(f"{name}.params()['{key}'].grad", np.zeros(shape),
                     checked_array(param.grad, f"{name}.params()['{key}'].grad", shape, case), case)


def check_no_params(layer, name):
    params = layer.params()
    if not isinstance(params, dict) or params:
        raise CheckFailed(f"{name}.params(): expected an empty dict {{}}, got {params!r:.80}")


def run_cases(items, check_one, case_of, same_shape=None):
    """Call `check_one(item)` for every item, smallest first, then raise the first failure, diagnosed.

    `case_of(item)` is the item's case (a namedtuple). Every non-square case has a square twin earlier in its list:
    an exception raised on a non-square case whose square twin passed becomes a failure with the hint
    rows_columns_swapped, unless `same_shape(item)`, when given, is an item of another non-square case of the same
    orientation that passes: then a size, not the orientation, is what the learner's code cannot take. Any other
    exception (the template's "Not implemented!" included) propagates.
    """
    failures, passed = [], set()
    for item in items:
        case = case_of(item)
        try:
            with on_input(describe(**case._asdict())):
                check_one(item)
        except CheckFailed as failure:
            failures.append((case, failure))
        except Exception as error:
            if not_implemented(error):
                raise
            if not _square_twin_passed(case, passed) or _passes(check_one, same_shape, item):
                _raise_first(failures, passed)  # a smaller case failed already: the smallest input showing a bug
                raise
            failures.append((case, CheckFailed(
                f"your code raised {describe_raised(error)} on a non-square input, though its square twin passed "
                f"(input: {describe(**case._asdict())})", "rows_columns_swapped")))
        else:
            passed.add(case)
    _raise_first(failures, passed)


def _passes(check_one, same_shape, item):
    """Whether `check_one` passes on `same_shape(item)`, another non-square case like item's; False without one."""
    other = None if same_shape is None else same_shape(item)
    if other is None:
        return False
    try:
        check_one(other)
    except Exception:  # CheckFailed included: only a pass tells that the orientation is handled
        return False
    return True


def _square_twin_passed(case, passed):
    """Whether `case` is non-square and its square twin (the same but for one of height and width) is in `passed`."""
    if not hasattr(case, "height") or case.height == case.width:
        return False
    return case._replace(width=case.height) in passed or case._replace(height=case.width) in passed


def not_implemented(error):
    """Whether `error` is the template's `Exception("Not implemented!")` or a NotImplementedError."""
    return isinstance(error, NotImplementedError) or str(error).strip().rstrip("!.").lower() == "not implemented"


def describe_raised(error):
    """ "ValueError: text (layers.py:174 in backward)": the exception and the innermost place of the learner's code
    in its traceback, that is outside the checker's files, the standard library and the installed packages."""
    ours = {os.path.realpath(os.path.dirname(__file__))}
    libraries = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("stdlib", "platstdlib", "purelib",
                                                                         "platlib")}
    frames = traceback.extract_tb(error.__traceback__)
    learner = [frame for frame in frames if os.path.dirname(os.path.realpath(frame.filename)) not in ours
               and not any(os.path.realpath(frame.filename).startswith(library + os.sep) for library in libraries)]
    where = ""
    if learner or frames:
        frame = (learner or frames)[-1]
        where = f" ({os.path.basename(frame.filename)}:{frame.lineno} in {frame.name})"
    text = next((line for line in str(error).splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {text}{where}"


def _raise_first(failures, passed):
    """Raise the first (smallest) failure, with its hint, else the first hint of a larger failing case (a small
    case may be too small to tell, e.g. one pooling window), else rows_columns_swapped when only non-square cases
    fail (every one has a square twin), else padding_ignored when only cases with padding fail and one without
    passed (`passed`: the cases that passed)."""
    if not failures:
        return
    cases = [case for case, _ in failures]
    hint = next((failure.hint for _, failure in failures if failure.hint), None)
    judged = not any(isinstance(failure, ForwardWrong) for _, failure in failures)
    if hint is None and judged and all(hasattr(case, "height") and case.height != case.width for case in cases):
        hint = "rows_columns_swapped"
    if hint is None and judged and all(getattr(case, "padding", 0) > 0 for case in cases) and \
            any(getattr(case, "padding", None) == 0 for case in passed):
        hint = "padding_ignored"
    raise CheckFailed(failures[0][1].message, hint)


def time_passes(layer, X, d_out, name, what, repeats=5, budget=3.0):
    """Timing of one forward + backward of the learner's layer on (X, d_out): the median of up to `repeats` passes
    within about `budget` seconds, after one pass on the first image alone.

    When that first pass, times the batch, exceeds SPEED_ESTIMATE_ABOVE seconds, the batch's time is that estimate.
    Every pass's results are checked to be arrays of the right shapes.
    """
    one_image = _timed_pass(layer, X[:1], d_out[:1], name)
    if one_image * len(X) > SPEED_ESTIMATE_ABOVE:
        return Timing(one_image * len(X), f"{what}; estimated as {len(X)} times the time of one image, the batch "
                                          "would take too long")
    times = [_timed_pass(layer, X, d_out, name)]
    while len(times) < repeats and sum(times) + np.median(times) <= budget:
        times.append(_timed_pass(layer, X, d_out, name))
    return Timing(float(np.median(times)), what)


def _timed_pass(layer, X, d_out, name):
    """Seconds of the learner's forward of X and backward of d_out; their results are checked afterwards."""
    start = time.perf_counter()
    out = layer.forward(X)
    d_input = layer.backward(d_out)
    seconds = time.perf_counter() - start
    case = describe(X_shape=X.shape)
    checked_array(out, f"{name}.forward", d_out.shape, case)
    checked_array(d_input, f"{name}.backward", X.shape, case)
    return seconds


def tied_windows():
    """An input of shape (1, 4, 6, 2) whose 2x2 windows hold 1, 2, 3 or 4 equal maxima at shuffled places.

    Returns X and {(window row, window column, channel): bool mask (4,) of the maxima in the window, row-major}.
    """
    rng = np.random.default_rng(8)
    X = np.zeros((1, 4, 6, 2))
    maxima = {}
    for index, (y, x, channel) in enumerate(np.ndindex(2, 3, 2)):
        n_maxima = 1 + index % 4
        values = rng.permutation(np.r_[np.zeros(n_maxima), -1.0 - np.arange(4 - n_maxima)]) + index
        X[0, 2 * y:2 * y + 2, 2 * x:2 * x + 2, channel] = values.reshape(2, 2)
        maxima[y, x, channel] = values == values.max()
    return X, maxima


def tie_rule(window, maxima, d_out):
    """How a window's gradient (4,) was shared among its maxima: "one", "split", "each", or None for none of those."""
    if not np.allclose(window[~maxima], 0, RTOL, ATOL):
        return None
    on_maxima = window[maxima]
    near_d_out, near_zero = np.isclose(on_maxima, d_out, RTOL, ATOL), np.isclose(on_maxima, 0, RTOL, ATOL)
    if near_d_out.sum() == 1 and near_zero.sum() == len(on_maxima) - 1:
        return "one"
    if np.allclose(on_maxima, d_out / len(on_maxima), RTOL, ATOL):
        return "split"
    if np.allclose(on_maxima, d_out, RTOL, ATOL):
        return "each"
    return None
