"""Checks of the learner's layers.py but MaxPoolingLayer (whose checks are in pooling.py): forward passes
against plain-loop oracles, backward passes against numeric gradients of those oracles, the accumulation into
`Param.grad`, and the timing of the convolution.

Every case is random but seeded, and every list of image cases comes in pairs, a square image then a non-square one
with everything else equal, smallest first: a check reports its first failing case, and diagnoses "right on square
images, wrong on non-square ones" as rows and columns swapped.

The oracles are in selfcheck/oracles.py; the running of cases and the checking of a layer's results, shared by these
checks, in layer_tools.py.
"""
import functools
from collections import namedtuple

import numpy as np

from selfcheck import oracles
from selfcheck.base import CheckFailed, Info, assert_close, describe, numeric_gradient, on_input
from selfcheck.checks.layer_tools import (
    ATOL,
    RTOL,
    SPEED_BATCH,
    SPEED_SIZE,
    Problem,
    check_accumulation,
    check_forward_values,
    check_gradient,
    check_no_params,
    check_param_shapes,
    checked_array,
    checked_number,
    checked_pair,
    describe_raised,
    layer_check,
    not_implemented,
    of_weights,
    run_backward,
    run_cases,
    run_forward,
    time_passes,
)

FcCase = namedtuple("FcCase", "batch n_input n_output")
ConvCase = namedtuple("ConvCase", "batch height width in_channels out_channels filter_size padding")

FC_CASES = (FcCase(1, 3, 2), FcCase(4, 5, 3))

CONV_FORWARD_CASES = (
    ConvCase(1, 3, 3, 1, 1, 1, 0), ConvCase(1, 3, 4, 1, 1, 1, 0),
    ConvCase(2, 4, 4, 1, 2, 2, 0), ConvCase(2, 4, 3, 1, 2, 2, 0),
    ConvCase(1, 4, 4, 3, 2, 3, 1), ConvCase(1, 4, 6, 3, 2, 3, 1),
    ConvCase(1, 5, 5, 2, 2, 3, 0), ConvCase(1, 5, 6, 2, 2, 3, 0),
    ConvCase(2, 3, 3, 2, 3, 3, 2), ConvCase(2, 5, 3, 2, 3, 3, 2),
    ConvCase(1, 5, 5, 3, 4, 1, 1), ConvCase(1, 5, 2, 3, 4, 1, 1),
)
# Smaller: each value of X, W or B costs two oracle passes for its numeric gradient.
CONV_BACKWARD_CASES = (
    ConvCase(1, 3, 3, 1, 1, 2, 0), ConvCase(1, 3, 4, 1, 1, 2, 0),
    ConvCase(2, 3, 3, 2, 3, 3, 1), ConvCase(2, 3, 4, 2, 3, 3, 1),
    ConvCase(1, 2, 2, 3, 2, 3, 2), ConvCase(1, 2, 3, 3, 2, 3, 2),
)

CONV_SPEED_CHANNELS = (3, 16)  # the first convolution of the notebook's ConvNet, on SPEED_BATCH images


@layer_check("Param.init.value_and_grad", needs=("layers.Param",),
              description="Param(value) keeps value and starts grad as zeros of value's shape")
def _param_init(modules):
    rng = np.random.default_rng(1)
    for shape in ((3, 2), (4,)):
        value = rng.standard_normal(shape)
        param = modules.layers.Param(value.copy())
        case = describe(value_shape=shape)
        assert_close("Param.value", value, checked_array(param.value, "Param.value", shape, case), case)
        assert_close("Param.grad", np.zeros(shape), checked_array(param.grad, "Param.grad", shape, case), case)


def _l2_cases():
    """(case text, W, reg_strength) of two random W, a 2-D one then a 4-D one (a convolution's)."""
    rng = np.random.default_rng(2)
    for shape, reg_strength in (((3, 4), 0.01), ((2, 3, 2, 2), 0.5)):
        yield describe(W_shape=shape, reg_strength=reg_strength), rng.standard_normal(shape), reg_strength


def _l2(modules, case, W, reg_strength):
    """The learner's (loss, grad) of l2_regularization on a copy of W, checked to be a pair."""
    with on_input(case):
        return checked_pair(modules.layers.l2_regularization(W.copy(), reg_strength), "l2_regularization", case)


@layer_check("l2_regularization.loss.formula", needs=("layers.l2_regularization",),
              description="the loss is reg_strength * sum(W**2)")
def _l2_loss(modules):
    for case, W, reg_strength in _l2_cases():
        loss = checked_number(_l2(modules, case, W, reg_strength)[0], "l2_regularization's loss", case)
        if np.isclose(loss, 0.5 * reg_strength * np.sum(W ** 2), RTOL, ATOL):
            raise CheckFailed(f"l2_regularization's loss: expected reg_strength * sum(W**2) = "
                              f"{reg_strength * np.sum(W ** 2):.6g}, got half of it, {loss:.6g}: the convention "
                              f"0.5 * reg_strength * sum(W**2) (gradient reg_strength * W) is not this assignment's, "
                              f"whose gradient is 2 * reg_strength * W (input: {case})")
        assert_close("l2_regularization's loss", reg_strength * np.sum(W ** 2), loss, case, RTOL, ATOL)


@layer_check("l2_regularization.gradient.formula", needs=("layers.l2_regularization",),
              description="the gradient is 2 * reg_strength * W, shaped like W")
def _l2_gradient(modules):
    """The gradient on the 2-D W first: when the learner's function then raises on the 4-D W, the gradient cannot
    be seen there; the exception (most often the loss's) is l2_regularization.loss.formula's to report."""
    for case, W, reg_strength in _l2_cases():
        try:
            grad = _l2(modules, case, W, reg_strength)[1]
        except Exception as error:
            if W.ndim == 2 or not_implemented(error):
                raise
            return Info(f"l2_regularization's gradient is right on W of shape (3, 4); on W of shape {W.shape} "
                        f"l2_regularization raised {describe_raised(error)}: see l2_regularization.loss.formula")
        grad = checked_array(grad, "l2_regularization's gradient", W.shape, case)
        if np.allclose(grad, reg_strength * W, RTOL, ATOL):
            raise CheckFailed(f"l2_regularization's gradient: expected 2 * reg_strength * W, got reg_strength * W, "
                              "half of it: the derivative of reg_strength * sum(W**2) has the factor 2 (reg_strength "
                              f"* W goes with the loss 0.5 * reg_strength * sum(W**2), not this assignment's) "
                              f"(input: {case})")
        assert_close("l2_regularization's gradient", 2 * reg_strength * W, grad, case, RTOL, ATOL)


def _softmax_cases(batched):
    """(predictions, target as the learner gets it, target as a (batch,) array) of one or several samples."""
    rng = np.random.default_rng(3)
    if not batched:
        predictions = rng.standard_normal(5)
        return [(predictions, 2, np.array([2])), (predictions, np.array([2]), np.array([2]))]
    cases = []
    for batch in (1, 3):
        target = rng.integers(0, 5, size=batch)
        cases.append((rng.standard_normal((batch, 5)), target, target))
    return cases


def _softmax(modules, predictions, target, check_gradient=True):
    """The learner's (loss, gradient) for copies of the arguments, checked to be a number and (unless
    `check_gradient` is False: the loss checks judge the loss only) an array of the predictions' shape."""
    case = describe(predictions_shape=predictions.shape, target_index=_target_text(target))
    with np.errstate(all="ignore"), on_input(case):  # overflow in the learner's exp is the check's to report
        result = modules.layers.softmax_with_cross_entropy(predictions.copy(), _copy(target))
    loss, grad = checked_pair(result, "softmax_with_cross_entropy", case)
    loss = checked_number(loss, "softmax_with_cross_entropy's loss", case)
    if check_gradient:
        grad = checked_array(grad, "softmax_with_cross_entropy's gradient", predictions.shape, case)
    return case, loss, grad


def _softmax_loss(modules, batched):
    for predictions, target, target_array in _softmax_cases(batched):
        case, loss, _ = _softmax(modules, predictions, target, check_gradient=False)
        expected = oracles.softmax_cross_entropy(predictions, target_array)
        n_classes = predictions.shape[-1]
        for shift in (-1, 1):
            shifted = oracles.softmax_cross_entropy(predictions, (target_array + shift) % n_classes)
            if not np.isclose(loss, expected, RTOL, ATOL) and np.isclose(loss, shifted, RTOL, ATOL):
                raise CheckFailed(f"softmax_with_cross_entropy's loss: expected {expected:.6g}, got {loss:.6g}, the "
                                  f"loss of class target_index {shift:+d}: class indices start at 0, the first "
                                  f"score is class 0 (input: {case})")
        if batched and len(predictions) > 1 and np.isclose(loss, expected * len(predictions), RTOL, ATOL):
            raise CheckFailed(f"softmax_with_cross_entropy's loss: expected the mean over the batch {expected:.6g}, "
                              f"got the sum {loss:.6g} (input: {case})", hint="loss_sum_not_mean")
        assert_close("softmax_with_cross_entropy's loss", expected, loss, case, RTOL, ATOL)


def _softmax_gradient(modules, batched):
    for predictions, target, target_array in _softmax_cases(batched):
        case, _, grad = _softmax(modules, predictions, target)
        expected = numeric_gradient(lambda p, target=target_array: oracles.softmax_cross_entropy(p, target),
                                    predictions)
        if batched and len(predictions) > 1 and np.allclose(grad, expected * len(predictions), RTOL, ATOL):
            raise CheckFailed("softmax_with_cross_entropy's gradient: the gradient of the batch's summed loss, "
                              f"expected that of its mean (divide by the batch size {len(predictions)}) "
                              f"(input: {case})", hint="loss_sum_not_mean")
        assert_close("softmax_with_cross_entropy's gradient", expected, grad, case, RTOL, ATOL)


# The loss and gradient checks, each on one sample and on a batch: (check id, judge, batched, description).
_SOFTMAX_CHECKS = (
    ("softmax_with_cross_entropy.loss.single", _softmax_loss, False,
     "loss of one sample (predictions of shape (N,)), target an int or an array of shape (1,)"),
    ("softmax_with_cross_entropy.loss.batch", _softmax_loss, True,
     "mean loss of a batch (predictions (batch, N), target (batch,)), batch 1 and 3"),
    ("softmax_with_cross_entropy.gradient.single", _softmax_gradient, False,
     "gradient for one sample equals the numeric gradient of the loss"),
    ("softmax_with_cross_entropy.gradient.batch", _softmax_gradient, True,
     "gradient for a batch equals the numeric gradient of the mean loss, batch 1 and 3"),
)


def _register_softmax_check(check_id, judge, batched, description):
    @layer_check(check_id, needs=("layers.softmax_with_cross_entropy",), description=description)
    def softmax_check(modules):
        judge(modules, batched)


for _softmax_check in _SOFTMAX_CHECKS:
    _register_softmax_check(*_softmax_check)


@layer_check("softmax_with_cross_entropy.loss.large_logits", needs=("layers.softmax_with_cross_entropy",),
              description="scores near +-1000 give a finite loss and gradient, the same as the scores shifted near 0 "
                          "(no overflow in exp); a target 1000 below its row's maximum: the loss about 1000 (inf is "
                          "info)")
def _softmax_large_logits(modules):
    predictions = np.array([[1000.0, 999.0, 998.0, 1001.0], [-1000.0, -999.0, -1002.0, -998.0]])
    target = np.array([3, 0])
    case, loss, grad = _softmax(modules, predictions, target)
    if not (np.isfinite(loss) and np.isfinite(grad).all()):
        raise CheckFailed(f"softmax_with_cross_entropy: expected a finite loss and gradient, got loss {loss} and "
                          f"{int(np.sum(~np.isfinite(grad)))} non-finite gradient values: subtract each row's "
                          f"maximum from the scores before np.exp (input: {case})")
    # Softmax does not change when a constant is added to a row: the learner's own result near 0 is the reference.
    shifted = predictions - predictions.max(axis=1, keepdims=True)
    _, shifted_loss, shifted_grad = _softmax(modules, shifted, target)
    assert_close("softmax_with_cross_entropy's loss (expected the loss of the same scores shifted near 0)",
                 shifted_loss, loss, case, RTOL, ATOL)
    assert_close("softmax_with_cross_entropy's gradient (expected the gradient of the same scores shifted near 0)",
                 shifted_grad, grad, case, RTOL, ATOL)
    return _softmax_underflow(modules)


def _softmax_underflow(modules):
    """A target 1000 below its row's maximum, whose probability underflows to 0: the loss is finite (about 1000)
    by log-sum-exp; inf from the log of a 0 probability is info, any other value fails."""
    predictions, target = np.array([[1000.0, 0.0, 0.0], [0.0, 1.0, 2.0]]), np.array([1, 0])
    expected = oracles.softmax_cross_entropy(predictions, target)
    advice = (f"expected {expected:.6g}): log-sum-exp, log(sum(exp(s - max))) - (s[target] - max), keeps it finite; "
              f"harmless in training, where such scores do not occur")
    try:
        case, loss, _ = _softmax(modules, predictions, target, check_gradient=False)
    except ValueError as error:  # math.log(0): the same underflow as an inf, raised instead
        if "math domain error" not in str(error):
            raise
        return Info(f"softmax_with_cross_entropy raises ValueError: math domain error (math.log of 0) where the "
                    f"target's probability underflows (input: {error.check_input}, {advice}")
    if np.isinf(loss) and loss > 0:
        return Info(f"softmax_with_cross_entropy's loss is inf where the target's probability underflows (input: "
                    f"{case}, {advice}")
    if not np.isclose(loss, expected, RTOL, ATOL):
        raise CheckFailed(f"softmax_with_cross_entropy's loss: expected {expected:.6g} where the target's probability "
                          f"underflows, got {loss:.6g}: a loss that replaces inf (or NaN) by another value hides where "
                          f"the model is most wrong (input: {case})")
    return None


def _relu_cases():
    """(X, d_out) pairs: a 2-D batch, a non-square 4-D one and an all-negative one; X is never exactly 0."""
    rng = np.random.default_rng(4)
    cases = [(rng.standard_normal(shape), rng.standard_normal(shape)) for shape in ((2, 5), (1, 3, 4, 2))]
    return cases + [(-np.abs(rng.standard_normal((2, 3))) - 0.1, rng.standard_normal((2, 3)))]


@layer_check("ReLULayer.forward.values", needs=("layers.ReLULayer",),
              description="forward is max(X, 0) elementwise, on 2-D and 4-D input and one without a positive value")
def _relu_forward(modules):
    for X, _ in _relu_cases():
        case = describe(X_shape=X.shape)
        got = run_forward(modules.layers.ReLULayer(), X, "ReLULayer", X.shape, case)
        assert_close("ReLULayer.forward", np.maximum(X, 0), got, case)


@layer_check("ReLULayer.backward.values", needs=("layers.ReLULayer",),
              description="backward passes d_out where the forward input was positive, 0 elsewhere")
def _relu_backward(modules):
    for X, d_out in _relu_cases():
        case = describe(X_shape=X.shape)
        layer = modules.layers.ReLULayer()
        run_forward(layer, X, "ReLULayer", X.shape, case)
        got = run_backward(layer, d_out, "ReLULayer", X.shape, case)
        assert_close("ReLULayer.backward", d_out * (X > 0), got, case)


@layer_check("ReLULayer.params.empty", needs=("layers.ReLULayer",), description="params() is {}")
def _relu_params(modules):
    check_no_params(modules.layers.ReLULayer(), "ReLULayer")


def _fc_problem(modules, case, seed):
    rng = np.random.default_rng(seed)
    layer = modules.layers.FullyConnectedLayer(case.n_input, case.n_output)
    return Problem(layer, rng.standard_normal((case.batch, case.n_input)),
                   rng.standard_normal((case.n_input, case.n_output)), rng.standard_normal((1, case.n_output)),
                   oracles.fully_connected, case)


def _conv_problem(modules, case, seed):
    rng = np.random.default_rng(seed)
    layer = modules.layers.ConvolutionalLayer(case.in_channels, case.out_channels, case.filter_size, case.padding)
    k = case.filter_size
    return Problem(layer, rng.standard_normal((case.batch, case.height, case.width, case.in_channels)),
                   rng.standard_normal((k, k, case.in_channels, case.out_channels)),
                   rng.standard_normal(case.out_channels),
                   functools.partial(oracles.convolution, padding=case.padding), case)


def _fc_problems(modules):
    return [_fc_problem(modules, case, seed) for seed, case in enumerate(FC_CASES, start=10)]


@layer_check("FullyConnectedLayer.params.shapes", needs=("layers.FullyConnectedLayer",),
              description="params() is {'W', 'B'}: W (n_input, n_output), B (1, n_output), grads zeros of their shapes")
def _fc_params(modules):
    check_param_shapes(modules.layers.FullyConnectedLayer(4, 3), "FullyConnectedLayer", (4, 3), (1, 3),
                        describe(n_input=4, n_output=3))


@layer_check("FullyConnectedLayer.forward.values", needs=("layers.FullyConnectedLayer",),
              description="forward is X @ W + B with W and B as set by the caller, batch 1 and 4")
def _fc_forward(modules):
    check_forward_values(_fc_problems(modules), "FullyConnectedLayer")


@layer_check("FullyConnectedLayer.backward.input_grad", needs=("layers.FullyConnectedLayer",),
              description="backward returns the numeric gradient with respect to X")
def _fc_input_grad(modules):
    check_gradient(_fc_problems(modules), "FullyConnectedLayer", "input")


@layer_check("FullyConnectedLayer.backward.W_grad", needs=("layers.FullyConnectedLayer",),
              description="backward leaves the numeric gradient with respect to W in W.grad")
def _fc_W_grad(modules):
    check_gradient(_fc_problems(modules), "FullyConnectedLayer", "W")


@layer_check("FullyConnectedLayer.backward.B_grad", needs=("layers.FullyConnectedLayer",),
              description="backward leaves the numeric gradient with respect to B in B.grad")
def _fc_B_grad(modules):
    check_gradient(_fc_problems(modules), "FullyConnectedLayer", "B")


@layer_check("FullyConnectedLayer.backward.accumulates", needs=("layers.FullyConnectedLayer",),
              description="two backward passes add up in W.grad and B.grad (+=, not =)")
def _fc_accumulates(modules):
    check_accumulation(lambda: _fc_problem(modules, FC_CASES[1], 20), "FullyConnectedLayer")


def _conv_problems(modules, cases):
    return [_conv_problem(modules, case, seed) for seed, case in enumerate(cases, start=30)]


@layer_check("ConvolutionalLayer.params.shapes", needs=("layers.ConvolutionalLayer",),
              description="params() is {'W', 'B'}: W (filter, filter, in, out), B (out,), grads zeros of their shapes")
def _conv_params(modules):
    check_param_shapes(modules.layers.ConvolutionalLayer(2, 3, 3, 1), "ConvolutionalLayer", (3, 3, 2, 3), (3,),
                        describe(in_channels=2, out_channels=3, filter_size=3, padding=1))


@layer_check("ConvolutionalLayer.forward.output_shape", needs=("layers.ConvolutionalLayer",),
              description="output (batch, H + 2p - f + 1, W + 2p - f + 1, out): filters 1-3, paddings 0-2, "
                          "non-square images")
def _conv_output_shape(modules):
    def check_one(problem):
        expected = problem.forward(problem.X, problem.W, problem.B).shape
        run_forward(problem.layer, problem.X, "ConvolutionalLayer", expected, describe(**problem.case._asdict()))
    run_cases(_conv_problems(modules, CONV_FORWARD_CASES), check_one, lambda problem: problem.case)


@layer_check("ConvolutionalLayer.forward.values", needs=("layers.ConvolutionalLayer",),
              description="forward equals a loop convolution: batch 1-2, channels 1-3, filters 1-3, paddings 0-2, "
                          "non-square images")
def _conv_forward(modules):
    check_forward_values(_conv_problems(modules, CONV_FORWARD_CASES), "ConvolutionalLayer", _conv_diagnosis)


def _conv_diagnosis(problem, output):
    """What a wrong convolution output is, when it is that of the filter transposed."""
    transposed = problem.forward(problem.X, problem.W.transpose(1, 0, 2, 3), problem.B)
    if problem.W.shape[0] > 1 and np.allclose(output, transposed, RTOL, ATOL):
        return ("the output of the filter transposed: W[i, j] must weigh the input at row offset i and column "
                "offset j (a patch flattened in another order than W)")
    return None



@layer_check("ConvolutionalLayer.forward.new_weights", needs=("layers.ConvolutionalLayer",),
              description="after a forward pass, W.value and B.value set by the caller (as the notebook does) are "
                          "used by the next one, replaced or changed in place")
def _conv_new_weights(modules):
    problem = _conv_problem(modules, CONV_FORWARD_CASES[4], 40)  # square: only the weights are in question
    case = describe(**problem.case._asdict())
    layer, rng = problem.layer, np.random.default_rng(41)
    made_with = [np.array(layer.W.value, dtype=np.float64), np.array(layer.B.value, dtype=np.float64)]
    old_W, old_B = rng.standard_normal(problem.W.shape), rng.standard_normal(problem.B.shape)
    layer.W.value, layer.B.value = old_W.copy(), old_B.copy()
    expected = problem.forward(problem.X, old_W, old_B)
    first = run_forward(layer, problem.X, "ConvolutionalLayer", expected.shape, case)
    if not np.allclose(first, expected, RTOL, ATOL):
        if of_weights(problem, first, *made_with):
            raise CheckFailed(f"ConvolutionalLayer.forward: W.value and B.value were set before the first forward "
                              f"pass, but it used the weights the layer was made with: read self.W.value and "
                              f"self.B.value in forward, do not keep copies made in __init__ (input: {case})")
        raise CheckFailed("ConvolutionalLayer.forward is wrong before any change of the weights, so their use "
                          f"could not be checked: see ConvolutionalLayer.forward.values (input: {case})")
    for change in ("replaced", "changed in place"):
        if change == "replaced":
            layer.W.value, layer.B.value = problem.W.copy(), problem.B.copy()
            W, B = problem.W, problem.B
        else:
            layer.W.value[0, 0, 0, 0] += 1.0
            layer.B.value[0] -= 1.0
            W, B = layer.W.value.copy(), layer.B.value.copy()
        expected = problem.forward(problem.X, W, B)
        got = run_forward(layer, problem.X, "ConvolutionalLayer", expected.shape, case)
        if np.allclose(got, first, RTOL, ATOL):
            raise CheckFailed(f"ConvolutionalLayer.forward: W.value and B.value were {change} after a forward pass, "
                              f"but the next forward gave the same output as before: read self.W.value and "
                              f"self.B.value in forward, do not keep copies made in __init__ (input: {case})")
        assert_close(f"ConvolutionalLayer.forward after W.value and B.value were {change}", expected, got, case,
                     RTOL, ATOL)
        first = got


@layer_check("ConvolutionalLayer.backward.input_grad", needs=("layers.ConvolutionalLayer",),
              description="backward returns the numeric gradient with respect to X: paddings 0-2, non-square images")
def _conv_input_grad(modules):
    check_gradient(_conv_problems(modules, CONV_BACKWARD_CASES), "ConvolutionalLayer", "input")


@layer_check("ConvolutionalLayer.backward.W_grad", needs=("layers.ConvolutionalLayer",),
              description="backward leaves the numeric gradient with respect to W in W.grad")
def _conv_W_grad(modules):
    check_gradient(_conv_problems(modules, CONV_BACKWARD_CASES), "ConvolutionalLayer", "W")


@layer_check("ConvolutionalLayer.backward.B_grad", needs=("layers.ConvolutionalLayer",),
              description="backward leaves the numeric gradient with respect to B in B.grad")
def _conv_B_grad(modules):
    check_gradient(_conv_problems(modules, CONV_BACKWARD_CASES), "ConvolutionalLayer", "B")


@layer_check("ConvolutionalLayer.backward.accumulates", needs=("layers.ConvolutionalLayer",),
              description="two backward passes add up in W.grad and B.grad (+=, not =)")
def _conv_accumulates(modules):
    check_accumulation(lambda: _conv_problem(modules, CONV_BACKWARD_CASES[2], 50), "ConvolutionalLayer")  # square


@layer_check("ConvolutionalLayer.speed.svhn_batch", needs=("layers.ConvolutionalLayer",), speed=True,
              description="seconds for forward + backward of 64 images 32x32x3, 3 -> 16 channels, filter 3, "
                          "padding 1")
def _conv_speed(modules):
    in_channels, out_channels = CONV_SPEED_CHANNELS
    rng = np.random.default_rng(6)
    X = rng.standard_normal((SPEED_BATCH, SPEED_SIZE, SPEED_SIZE, in_channels))
    d_out = rng.standard_normal((SPEED_BATCH, SPEED_SIZE, SPEED_SIZE, out_channels))
    layer = modules.layers.ConvolutionalLayer(in_channels, out_channels, 3, 1)
    return time_passes(layer, X, d_out, "ConvolutionalLayer",
                        f"forward + backward of {SPEED_BATCH} images {SPEED_SIZE}x{SPEED_SIZE}x{in_channels}, "
                        f"{in_channels} -> {out_channels} channels, filter 3, padding 1")


def _flattener_cases():
    """Inputs of batch 1 (square) and batch 2 (non-square)."""
    rng = np.random.default_rng(10)
    return [rng.standard_normal(shape) for shape in ((1, 2, 2, 3), (2, 3, 5, 2))]


@layer_check("Flattener.forward.shape", needs=("layers.Flattener",),
              description="forward gives (batch, H*W*C), each row holding the values of its sample")
def _flattener_forward(modules):
    for X in _flattener_cases():
        case = describe(X_shape=X.shape)
        got = run_forward(modules.layers.Flattener(), X, "Flattener", (len(X), X[0].size), case)
        for n, (row, sample) in enumerate(zip(got, X)):
            if not np.array_equal(np.sort(row), np.sort(sample.reshape(-1))):
                raise CheckFailed(f"Flattener.forward: row {n} of the output does not hold the values of sample {n} "
                                  f"(input: {case})")


@layer_check("Flattener.backward.round_trip", needs=("layers.Flattener",),
              description="backward gives back the forward input's shape: backward(forward(X)) == X")
def _flattener_backward(modules):
    for X in _flattener_cases():
        case = describe(X_shape=X.shape)
        layer = modules.layers.Flattener()
        out = run_forward(layer, X, "Flattener", (len(X), X[0].size), case)
        assert_close("Flattener.backward(forward(X))", X, run_backward(layer, out, "Flattener", X.shape, case), case)


@layer_check("Flattener.params.empty", needs=("layers.Flattener",), description="params() is {}")
def _flattener_params(modules):
    check_no_params(modules.layers.Flattener(), "Flattener")


def _copy(target):
    return target.copy() if isinstance(target, np.ndarray) else target


def _target_text(target):
    return f"array {target.tolist()}" if isinstance(target, np.ndarray) else f"int {target}"
