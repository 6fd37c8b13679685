"""layers.py: every forward against the plain oracles of tests/oracles.py, every backward against central differences.

Backward passes are checked twice, independently: with the package's own `gradient_check` functions and with the
central-difference helper `oracles.numeric_gradient` (float64, compared with `assert_allclose`).
"""
import itertools

import numpy as np
import oracles
import pytest

from gradient_check import check_gradient, check_layer_gradient, check_layer_param_gradient
from layers import (
    ConvolutionalLayer,
    Flattener,
    FullyConnectedLayer,
    MaxPoolingLayer,
    Param,
    ReLULayer,
    l2_regularization,
    softmax_with_cross_entropy,
)

# (batch, height, width, in_channels, out_channels): batch sizes 1, 2, 3; odd and even; square and non-square.
# The last shapes have enough input channels for im2col's channels-last layout (kernels.CHANNELS_LAST_FROM).
CONV_SHAPES = [(1, 5, 5, 1, 1), (2, 6, 4, 2, 3), (3, 7, 6, 3, 2), (2, 4, 7, 1, 2), (2, 5, 6, 9, 3)]
# Smaller inputs for the numeric checks, which run one forward pass per element and direction.
CONV_GRAD_SHAPES = [(1, 5, 4, 1, 2), (2, 4, 5, 2, 1), (3, 3, 3, 1, 1), (1, 4, 3, 8, 2)]
FILTER_SIZES = [1, 2, 3, 5]
PADDINGS = [0, 1, 2]
STRIDES = [1, 2, 3]
DTYPES = [np.float32, np.float64]
# float32 has a unit roundoff of 6e-8; a conv output sums at most 5 * 5 * 3 = 75 products of O(1) terms, so its
# rounding error stays well under 1e-5. float64 results only differ from the oracle by summation order.
FORWARD_TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}
# Conv, FC and pooling are linear in the perturbed variable near the point, so central differences are exact up to
# roundoff (about 1e-16 * |objective| / delta < 1e-8 here).
NUMERIC_TOLERANCE = dict(rtol=1e-6, atol=1e-7)
CHECKERS = ["package", "own"]


# ---------------------------------------------------------------------------------------------------------- helpers

def skip_unless_fits(height, width, filter_size, padding):
    """Skip the combinations where the filter is larger than the padded input (the layer rightly refuses them)."""
    if oracles.conv_output_size(min(height, width), filter_size, padding, 1) is None:
        pytest.skip(f"filter {filter_size} larger than the padded {height}x{width} input (padding {padding})")


def make_conv(shape, filter_size, padding, stride, dtype=np.float64, seed=0):
    """A conv layer with random weights and non-zero biases, and a random input for it."""
    batch, height, width, in_channels, out_channels = shape
    skip_unless_fits(height, width, filter_size, padding)
    rng = np.random.default_rng(seed)
    layer = ConvolutionalLayer(in_channels, out_channels, filter_size, padding, stride=stride, dtype=dtype, seed=rng)
    layer.B.value = rng.standard_normal(out_channels).astype(dtype)
    X = rng.standard_normal((batch, height, width, in_channels)).astype(dtype)
    return layer, X


def make_fc(batch, n_input, n_output, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    layer = FullyConnectedLayer(n_input, n_output, dtype=dtype, seed=rng)
    layer.B.value = rng.standard_normal((1, n_output)).astype(dtype)
    return layer, rng.standard_normal((batch, n_input)).astype(dtype)


def distinct_values(shape, seed=0):
    """Random float64 values at least 0.1 apart and at least 0.05 away from 0: no ties and no kinks within delta."""
    values = (np.random.default_rng(seed).permutation(int(np.prod(shape))) - np.prod(shape) / 2 + 0.5) * 0.1
    return values.reshape(shape)


def assert_forward(layer, X, expected):
    """`layer.forward(X)` keeps the dtype of X and matches the float64 oracle output `expected`."""
    out = layer.forward(X)
    assert out.dtype == X.dtype
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **FORWARD_TOLERANCE[X.dtype.type])


def assert_backward(layer, X, wrt, checker):
    """The gradient of sum(forward(X) * upstream) w.r.t. the input ('X') or a parameter matches central differences.

    checker 'package' runs gradient_check's function; 'own' compares with oracles.numeric_gradient.
    """
    if checker == "package":
        passed = check_layer_gradient(layer, X) if wrt == "X" else check_layer_param_gradient(layer, X, wrt)
        assert passed
        return
    upstream = np.random.default_rng(1).standard_normal(layer.forward(X).shape)
    for param in layer.params().values():
        param.grad = np.zeros_like(param.value)
    layer.forward(X)
    d_X = layer.backward(upstream)
    analytic = d_X if wrt == "X" else layer.params()[wrt].grad.copy()
    point = X if wrt == "X" else layer.params()[wrt].value
    numeric = oracles.numeric_gradient(lambda: float(np.sum(layer.forward(X) * upstream)), point)
    np.testing.assert_allclose(analytic, numeric, **NUMERIC_TOLERANCE)


# ------------------------------------------------------------------------------------------------------ convolution

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("filter_size", FILTER_SIZES)
@pytest.mark.parametrize("shape", CONV_SHAPES)
@pytest.mark.parametrize("oracle", [oracles.conv2d, oracles.conv2d_scipy], ids=["loops", "scipy"])
def test_conv_forward(oracle, shape, filter_size, padding, stride, dtype):
    layer, X = make_conv(shape, filter_size, padding, stride, dtype)
    assert_forward(layer, X, oracle(X, layer.W.value, layer.B.value, padding, stride))


@pytest.mark.parametrize("checker", CHECKERS)
@pytest.mark.parametrize("wrt", ["X", "W", "B"])
@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("filter_size", FILTER_SIZES)
@pytest.mark.parametrize("shape", CONV_GRAD_SHAPES)
def test_conv_backward(shape, filter_size, padding, stride, wrt, checker):
    layer, X = make_conv(shape, filter_size, padding, stride)
    assert_backward(layer, X, wrt, checker)


@pytest.mark.parametrize("filter_size, padding, stride", [(1, 0, 1), (2, 1, 2), (3, 1, 1), (3, 2, 3), (5, 2, 2)])
def test_conv_float32_stays_float32_end_to_end(filter_size, padding, stride):
    layer32, X32 = make_conv((2, 6, 5, 2, 3), filter_size, padding, stride, np.float32)
    layer64, X64 = make_conv((2, 6, 5, 2, 3), filter_size, padding, stride, np.float64)
    out32, out64 = layer32.forward(X32), layer64.forward(X32.astype(np.float64))
    upstream = np.random.default_rng(2).standard_normal(out32.shape)
    d_X32, d_X64 = layer32.backward(upstream.astype(np.float32)), layer64.backward(upstream)
    for array32, array64 in [(out32, out64), (d_X32, d_X64), (layer32.W.grad, layer64.W.grad),
                             (layer32.B.grad, layer64.B.grad)]:
        assert array32.dtype == np.float32
        np.testing.assert_allclose(array32, array64, rtol=1e-4, atol=1e-4)


def test_conv_notebook_single_channel_example():
    """The first notebook cell: a 2x2 filter with a single 1 at the top-left picks X[:, :1, :1, :1], plus B."""
    X = np.array([[[[1.0], [2.0]], [[0.0], [-1.0]]], [[[0.0], [1.0]], [[-2.0], [-1.0]]]])
    layer = ConvolutionalLayer(in_channels=1, out_channels=1, filter_size=2, padding=0)
    layer.W.value = np.zeros_like(layer.W.value)
    layer.W.value[0, 0, 0, 0] = 1.0
    layer.B.value = np.ones_like(layer.B.value)
    result = layer.forward(X)
    assert result.shape == (2, 1, 1, 1)
    assert np.all(result == X[:, :1, :1, :1] + 1)


# ------------------------------------------------------------------------------------------------------ max pooling

# (batch, height, width, channels)
POOL_SHAPES = [(1, 5, 5, 1), (2, 6, 4, 2), (3, 7, 9, 3), (2, 8, 8, 1)]
# (pool_size, stride): disjoint, overlapping (3x3 stride 1 and 2), gapped, and sizes that do not divide the input.
POOL_CONFIGS = [(1, 1), (2, 2), (2, 1), (3, 1), (3, 2), (3, 3), (2, 3), (4, 4), (4, 2)]


def pool_input(shape, kind, dtype=np.float64, seed=0):
    """'distinct' values, 'integers' in 0..2 (many ties), or 'equal' (every window one big tie)."""
    rng = np.random.default_rng(seed)
    if kind == "distinct":
        X = distinct_values(shape, seed)
    elif kind == "integers":
        X = rng.integers(0, 3, size=shape).astype(np.float64)
    else:
        X = np.full(shape, 1.5)
    return X.astype(dtype)


def skip_unless_pool_fits(shape, pool_size):
    if pool_size > min(shape[1:3]):
        pytest.skip(f"pool {pool_size} larger than the {shape[1]}x{shape[2]} input")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["distinct", "integers", "equal"])
@pytest.mark.parametrize("pool_size, stride", POOL_CONFIGS)
@pytest.mark.parametrize("shape", POOL_SHAPES)
def test_max_pool_forward(shape, pool_size, stride, kind, dtype):
    skip_unless_pool_fits(shape, pool_size)
    X = pool_input(shape, kind, dtype)
    assert_forward(MaxPoolingLayer(pool_size, stride), X, oracles.max_pool(X, pool_size, stride))


@pytest.mark.parametrize("kind", ["distinct", "integers", "equal"])
@pytest.mark.parametrize("pool_size, stride", POOL_CONFIGS)
@pytest.mark.parametrize("shape", POOL_SHAPES)
def test_max_pool_backward_first_max_rule(shape, pool_size, stride, kind):
    """Backward equals the loop oracle, which gives each window's gradient to its first maximum (row-major)."""
    skip_unless_pool_fits(shape, pool_size)
    X = pool_input(shape, kind)
    layer = MaxPoolingLayer(pool_size, stride)
    d_out = np.random.default_rng(3).standard_normal(layer.forward(X).shape)
    np.testing.assert_allclose(layer.backward(d_out), oracles.max_pool_backward(X, d_out, pool_size, stride),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["integers", "equal"])
@pytest.mark.parametrize("pool_size, stride", [(2, 2), (3, 1), (3, 2), (2, 3), (4, 2)])
def test_max_pool_each_window_gradient_goes_to_exactly_one_element(pool_size, stride, kind):
    """One window at a time: a unit d_out on that window lands on one element, whole, at its first maximum."""
    X = pool_input((1, 7, 8, 2), kind)
    layer = MaxPoolingLayer(pool_size, stride)
    out = layer.forward(X)
    for index in np.ndindex(out.shape):
        d_out = np.zeros(out.shape)
        d_out[index] = 1.0
        d_X = layer.backward(d_out)
        assert np.count_nonzero(d_X) == 1 and d_X.sum() == 1.0
        _, y, x, c = index
        window = X[0, y * stride:y * stride + pool_size, x * stride:x * stride + pool_size, c]
        i, j = np.unravel_index(np.argmax(window), window.shape)  # argmax: first occurrence in row-major order
        assert d_X[0, y * stride + i, x * stride + j, c] == 1.0


def assert_pool_backward_by_hand(grid, pool_size, stride, d_out, expected):
    """One image, one channel: backward of `d_out` after forward of `grid` is exactly `expected`."""
    layer = MaxPoolingLayer(pool_size, stride)
    layer.forward(np.array(grid, dtype=np.float64)[None, :, :, None])
    d_X = layer.backward(np.array(d_out, dtype=np.float64)[None, :, :, None])
    np.testing.assert_array_equal(d_X[0, :, :, 0], np.array(expected, dtype=np.float64))


# d_out holds distinct powers of ten, so `expected` shows which window sent what where.
@pytest.mark.parametrize("grid, pool_size, stride, d_out, expected", [
    # A tie between (0, 1) and (1, 0): the first in row-major order wins, nothing is split.
    ([[1, 3], [3, 0]], 2, 2, [[7]], [[0, 7], [0, 0]]),
    # Row-major, not column-major: (0, 2) comes before (1, 0).
    ([[0, 0, 3], [3, 0, 0], [0, 0, 3]], 3, 1, [[7]], [[0, 0, 7], [0, 0, 0], [0, 0, 0]]),
    # All equal, one window: the whole gradient on the first element, once.
    ([[2] * 3] * 3, 3, 1, [[7]], [[7, 0, 0], [0, 0, 0], [0, 0, 0]]),
    # All equal, overlapping 3x3 stride 1: each window's first element.
    ([[2] * 4] * 4, 3, 1, [[1, 10], [100, 1000]], [[1, 10, 0, 0], [100, 1000, 0, 0], [0] * 4, [0] * 4]),
    # All equal, overlapping 3x3 stride 2 on 5x5.
    ([[2] * 5] * 5, 3, 2, [[1, 10], [100, 1000]],
     [[1, 0, 10, 0, 0], [0] * 5, [100, 0, 1000, 0, 0], [0] * 5, [0] * 5]),
    # The maximum at (1, 1) is shared by four overlapping windows: their gradients add up there.
    ([[0, 0, 0, 0], [0, 5, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], 2, 1,
     [[1, 10, 100], [1e3, 1e4, 1e5], [1e6, 1e7, 1e8]],
     [[0, 0, 100, 0], [0, 11011, 1e5, 0], [1e6, 1e7, 1e8, 0], [0, 0, 0, 0]]),
    # 5x5 with 2x2 stride 2: the last row and column belong to no window and get nothing.
    ([[2] * 5] * 5, 2, 2, [[1, 10], [100, 1000]],
     [[1, 0, 10, 0, 0], [0] * 5, [100, 0, 1000, 0, 0], [0] * 5, [0] * 5]),
])
def test_max_pool_backward_by_hand(grid, pool_size, stride, d_out, expected):
    assert_pool_backward_by_hand(grid, pool_size, stride, d_out, expected)


@pytest.mark.parametrize("checker", CHECKERS)
@pytest.mark.parametrize("pool_size, stride", [(2, 2), (3, 1), (3, 2), (2, 3), (4, 4)])
@pytest.mark.parametrize("shape", [(1, 5, 5, 1), (2, 6, 4, 2), (3, 4, 5, 1)])
def test_max_pool_backward_numeric(shape, pool_size, stride, checker):
    skip_unless_pool_fits(shape, pool_size)
    assert_backward(MaxPoolingLayer(pool_size, stride), distinct_values(shape), "X", checker)


@pytest.mark.parametrize("pool_size, stride, expected_shape", [
    (2, 2, (2, 3, 4, 3)),  # 7x9: the last row and column are dropped
    (3, 1, (2, 5, 7, 3)),
    (3, 2, (2, 3, 4, 3)),
    (4, 4, (2, 1, 2, 3)),
    (7, 1, (2, 1, 3, 3)),
])
def test_max_pool_output_shape(pool_size, stride, expected_shape):
    out = MaxPoolingLayer(pool_size, stride).forward(np.zeros((2, 7, 9, 3)))
    assert out.shape == expected_shape


# ------------------------------------------------------------------------------------------- ReLU, Flattener, FC

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5,), (2, 3), (1, 4, 5, 2), (3, 3, 2, 1)])
def test_relu_forward(shape, dtype):
    X = distinct_values(shape).astype(dtype)
    assert_forward(ReLULayer(), X, oracles.relu(X))


@pytest.mark.parametrize("checker", CHECKERS)
@pytest.mark.parametrize("shape", [(2, 3), (1, 4, 5, 2), (3, 3, 2, 1)])
def test_relu_backward(shape, checker):
    assert_backward(ReLULayer(), distinct_values(shape), "X", checker)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_backward_keeps_dtype(dtype):
    layer = ReLULayer()
    layer.forward(distinct_values((2, 3, 3, 2)).astype(dtype))
    assert layer.backward(np.ones((2, 3, 3, 2), dtype=dtype)).dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 4, 5), (3, 5, 2, 3), (2, 2, 2, 2)])
def test_flattener_forward(shape, dtype):
    X = distinct_values(shape).astype(dtype)
    assert_forward(Flattener(), X, oracles.flatten(X))


@pytest.mark.parametrize("checker", CHECKERS)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 4, 5), (3, 2, 3, 1)])
def test_flattener_backward(shape, checker):
    assert_backward(Flattener(), distinct_values(shape), "X", checker)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flattener_backward_restores_shape_and_dtype(dtype):
    layer = Flattener()
    out = layer.forward(np.zeros((2, 3, 4, 5), dtype=dtype))
    d_X = layer.backward(np.arange(out.size, dtype=dtype).reshape(out.shape))
    assert d_X.shape == (2, 3, 4, 5) and d_X.dtype == dtype
    np.testing.assert_array_equal(d_X.reshape(2, -1), np.arange(out.size).reshape(out.shape))


FC_SHAPES = [(1, 1, 1), (2, 5, 3), (3, 4, 7), (2, 10, 2)]  # (batch, n_input, n_output)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch, n_input, n_output", FC_SHAPES)
def test_fc_forward(batch, n_input, n_output, dtype):
    layer, X = make_fc(batch, n_input, n_output, dtype)
    assert_forward(layer, X, oracles.fully_connected(X, layer.W.value, layer.B.value))


@pytest.mark.parametrize("checker", CHECKERS)
@pytest.mark.parametrize("wrt", ["X", "W", "B"])
@pytest.mark.parametrize("batch, n_input, n_output", FC_SHAPES)
def test_fc_backward(batch, n_input, n_output, wrt, checker):
    layer, X = make_fc(batch, n_input, n_output)
    assert_backward(layer, X, wrt, checker)


def test_fc_float32_stays_float32_end_to_end():
    layer, X = make_fc(3, 4, 5, np.float32)
    out = layer.forward(X)
    d_X = layer.backward(np.ones_like(out))
    assert (out.dtype, d_X.dtype, layer.W.grad.dtype, layer.B.grad.dtype) == (np.float32,) * 4


# ----------------------------------------------------------------------------------- softmax with cross-entropy

def assert_softmax_ce(predictions, target_index, expected_targets):
    """Loss (a float) and gradient (shaped like predictions) match the oracle; predictions are not modified."""
    predictions = np.array(predictions, dtype=np.float64)
    before = predictions.copy()
    loss, d_predictions = softmax_with_cross_entropy(predictions, target_index)
    expected_loss, expected_grad = oracles.softmax_cross_entropy(predictions.reshape(-1, predictions.shape[-1]),
                                                                 expected_targets)
    assert isinstance(loss, float)
    assert d_predictions.shape == predictions.shape
    assert loss == pytest.approx(expected_loss, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(d_predictions.reshape(expected_grad.shape), expected_grad, rtol=1e-10, atol=1e-15)
    np.testing.assert_array_equal(predictions, before)


@pytest.mark.parametrize("predictions, target_index, expected_targets", [
    ([1.0, 2.0, 3.0], 2, [2]),  # 1-D predictions, int target
    ([1.0, -2.0, 0.5, 4.0], np.array([0]), [0]),  # 1-D, target of shape (1,)
    ([[0.5, 0.1, -0.3]], 1, [1]),  # batch of 1, int target
    ([[0.5, 0.1, -0.3]], np.array([2]), [2]),  # batch of 1, (1,)
    ([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0], [-1.0, 5.0, 2.0, 0.0]], np.array([0, 3, 1]), [0, 3, 1]),
    ([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0], [-1.0, 5.0, 2.0, 0.0]], np.array([[0], [3], [1]]), [0, 3, 1]),
    ([[3.0, -1.0], [2.0, 2.0]], np.array([1, 0], dtype=np.int32), [1, 0]),
    # Logits of order 1e4: exp would overflow without the max shift.
    ([1e4, 0.0, -1e4], 0, [0]),
    ([1e4, 0.0, -1e4], 2, [2]),
    ([[1e4, 1e4 + 1.0, 1e4 - 2.0], [-1e4, -1e4, 1e4]], np.array([1, 0]), [1, 0]),
])
def test_softmax_with_cross_entropy(predictions, target_index, expected_targets):
    assert_softmax_ce(predictions, target_index, expected_targets)


@pytest.mark.parametrize("predictions, target_index, expected_loss", [
    ([1e4, 0.0, -1e4], 0, 0.0),
    ([1e4, 0.0, -1e4], 2, 2e4),
    ([[0.0, 1e4]], 0, 1e4),
    ([[5e3, 5e3]], 1, np.log(2)),
])
def test_softmax_with_cross_entropy_large_logits_exact(predictions, target_index, expected_loss):
    loss, d_predictions = softmax_with_cross_entropy(np.array(predictions), target_index)
    assert loss == pytest.approx(expected_loss, rel=1e-12, abs=1e-12)
    assert np.all(np.isfinite(d_predictions))


def test_softmax_with_cross_entropy_shift_invariant(rng):
    logits, targets = rng.standard_normal((4, 6)), np.array([0, 5, 2, 2])
    loss, grad = softmax_with_cross_entropy(logits, targets)
    shifted_loss, shifted_grad = softmax_with_cross_entropy(logits + 1e4, targets)
    assert shifted_loss == pytest.approx(loss, rel=1e-9)
    np.testing.assert_allclose(shifted_grad, grad, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_with_cross_entropy_keeps_dtype(dtype, rng):
    loss, grad = softmax_with_cross_entropy(rng.standard_normal((3, 5)).astype(dtype), np.array([0, 1, 4]))
    assert isinstance(loss, float) and grad.dtype == dtype


@pytest.mark.parametrize("checker", CHECKERS)
@pytest.mark.parametrize("shape, target_index", [((5,), 3), ((1, 4), np.array([0])), ((3, 6), np.array([5, 0, 2])),
                                                 ((4, 2), np.array([[1], [1], [0], [1]]))])
def test_softmax_with_cross_entropy_gradient(shape, target_index, checker, rng):
    predictions = rng.standard_normal(shape) * 3

    def loss_and_grad(x):
        return softmax_with_cross_entropy(x, target_index)

    if checker == "package":
        assert check_gradient(loss_and_grad, predictions)
        return
    _, analytic = loss_and_grad(predictions)
    numeric = oracles.numeric_gradient(lambda: loss_and_grad(predictions)[0], predictions, delta=1e-5)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------------------------------------------ L2 penalty

@pytest.mark.parametrize("shape, reg_strength", [((3,), 0.5), ((2, 3), 1e-3), ((3, 3, 2, 4), 0.1), ((4, 1), 0.0)])
def test_l2_regularization(shape, reg_strength, rng):
    W = rng.standard_normal(shape)
    loss, grad = l2_regularization(W, reg_strength)
    expected = sum(reg_strength * w * w for w in W.ravel())
    assert isinstance(loss, float) and loss == pytest.approx(expected, rel=1e-12, abs=1e-300)
    np.testing.assert_allclose(grad, 2 * reg_strength * W, rtol=1e-15)
    numeric = oracles.numeric_gradient(lambda: l2_regularization(W, reg_strength)[0], W)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    assert check_gradient(lambda w: l2_regularization(w, reg_strength), W)


@pytest.mark.parametrize("dtype", DTYPES)
def test_l2_regularization_keeps_dtype(dtype):
    assert l2_regularization(np.ones((2, 2), dtype=dtype), 0.1)[1].dtype == dtype


# ------------------------------------------------------------------------------------------------ Param, params()

@pytest.mark.parametrize("dtype", DTYPES)
def test_param_starts_with_zero_grad(dtype):
    param = Param(np.arange(6, dtype=dtype).reshape(2, 3))
    assert param.grad.shape == (2, 3) and param.grad.dtype == dtype and not param.grad.any()


@pytest.mark.parametrize("layer, expected", [
    (ConvolutionalLayer(3, 4, 5, 2), {"W": (5, 5, 3, 4), "B": (4,)}),
    (ConvolutionalLayer(1, 2, 1, 0, stride=2), {"W": (1, 1, 1, 2), "B": (2,)}),
    (FullyConnectedLayer(7, 3), {"W": (7, 3), "B": (1, 3)}),
    (ReLULayer(), {}),
    (MaxPoolingLayer(2, 2), {}),
    (Flattener(), {}),
], ids=["conv", "conv-strided", "fc", "relu", "pool", "flatten"])
def test_params_names_and_shapes(layer, expected):
    params = layer.params()
    assert {name: param.value.shape for name, param in params.items()} == expected
    assert all(isinstance(param, Param) and param.grad.shape == param.value.shape for param in params.values())


@pytest.mark.parametrize("make_layer_and_input", [
    lambda: make_conv((2, 5, 4, 2, 3), 3, 1, 1),
    lambda: make_conv((1, 6, 6, 1, 2), 2, 0, 2),
    lambda: make_fc(3, 4, 2),
], ids=["conv", "conv-strided", "fc"])
def test_backward_adds_into_grad(make_layer_and_input, rng):
    """Two backward passes after one forward pass leave twice the gradient of one: layers add, never assign."""
    layer, X = make_layer_and_input()
    upstream = rng.standard_normal(layer.forward(X).shape)
    sentinel = {name: rng.standard_normal(param.value.shape) for name, param in layer.params().items()}
    for name, param in layer.params().items():
        param.grad = sentinel[name].copy()
    layer.backward(upstream)
    once = {name: param.grad - sentinel[name] for name, param in layer.params().items()}
    layer.backward(upstream)
    for name, param in layer.params().items():
        assert np.any(once[name] != 0)
        np.testing.assert_allclose(param.grad, sentinel[name] + 2 * once[name], rtol=1e-12, atol=1e-12)


def test_replaced_param_values_are_used():
    """The notebook assigns `layer.W.value = ...`: the next forward pass uses the new arrays."""
    layer, X = make_fc(2, 3, 2)
    layer.W.value = np.zeros((3, 2))
    layer.B.value = np.array([[1.0, -2.0]])
    np.testing.assert_array_equal(layer.forward(X), [[1.0, -2.0], [1.0, -2.0]])


# -------------------------------------------------------------------------------------------------- initialisation

@pytest.mark.parametrize("in_channels, out_channels, filter_size", [(64, 128, 3), (16, 256, 5), (512, 128, 1)])
def test_conv_init_is_he_scaled(in_channels, out_channels, filter_size):
    """std(W) ~ sqrt(2 / fan_in), fan_in = filter_size**2 * in_channels; 2% is over 5 standard errors here."""
    W = ConvolutionalLayer(in_channels, out_channels, filter_size, seed=0).W.value
    expected = np.sqrt(2.0 / (filter_size * filter_size * in_channels))
    assert W.std() == pytest.approx(expected, rel=0.02)
    assert abs(W.mean()) < 5 * expected / np.sqrt(W.size)


def test_fc_init_is_scaled_by_fan_in():
    """The std of W falls as 1 / sqrt(n_input), between LeCun (1 / n_input) and He (2 / n_input) in variance."""
    stds = {n_input: FullyConnectedLayer(n_input, 200, seed=1).W.value.std() for n_input in (250, 1000)}
    assert stds[250] / stds[1000] == pytest.approx(2.0, rel=0.03)
    for n_input, std in stds.items():
        assert np.sqrt(1.0 / n_input) * 0.97 < std < np.sqrt(2.0 / n_input) * 1.03


LAYER_FACTORIES = {
    "conv": lambda seed: ConvolutionalLayer(3, 4, 3, 1, seed=seed),
    "fc": lambda seed: FullyConnectedLayer(6, 5, seed=seed),
}


@pytest.mark.parametrize("kind", sorted(LAYER_FACTORIES))
@pytest.mark.parametrize("make_seed", [lambda: 7, lambda: np.random.default_rng(7)], ids=["int", "generator"])
def test_init_reproducible_from_seed(kind, make_seed):
    first, second = LAYER_FACTORIES[kind](make_seed()), LAYER_FACTORIES[kind](make_seed())
    for name, param in first.params().items():
        np.testing.assert_array_equal(param.value, second.params()[name].value)


@pytest.mark.parametrize("kind", sorted(LAYER_FACTORIES))
@pytest.mark.parametrize("seeds", [(0, 1), (None, None)], ids=["ints", "none"])
def test_init_different_seeds_differ(kind, seeds):
    first, second = (LAYER_FACTORIES[kind](seed) for seed in seeds)
    assert not np.array_equal(first.W.value, second.W.value)


def test_one_generator_gives_successive_layers_different_weights():
    rng = np.random.default_rng(3)
    first, second = ConvolutionalLayer(2, 2, 3, seed=rng), ConvolutionalLayer(2, 2, 3, seed=rng)
    assert not np.array_equal(first.W.value, second.W.value)


def test_layers_leave_global_random_state_alone():
    state = np.random.get_state()
    for seed in (None, 5, np.random.default_rng(5)):
        layer = ConvolutionalLayer(2, 3, 3, 1, seed=seed)
        layer.backward(np.ones_like(layer.forward(np.ones((1, 4, 4, 2)))))
        FullyConnectedLayer(4, 3, seed=seed)
    check_layer_gradient(ConvolutionalLayer(1, 1, 2, seed=0), np.ones((1, 3, 3, 1)))
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 0)])
def test_conv_reused_buffers_never_leak_into_results(stride, padding):
    rng = np.random.default_rng(5)
    layer = ConvolutionalLayer(3, 4, 3, padding, stride=stride, seed=0)
    first_X, second_X = rng.standard_normal((2, 2, 7, 6, 3))
    first_out = layer.forward(first_X)
    first_d_input = layer.backward(np.ones_like(first_out))
    kept_out, kept_d_input = first_out.copy(), first_d_input.copy()
    second_out = layer.forward(second_X)
    second_d_input = layer.backward(np.ones_like(second_out))
    np.testing.assert_array_equal(first_out, kept_out)
    np.testing.assert_array_equal(first_d_input, kept_d_input)
    fresh = ConvolutionalLayer(3, 4, 3, padding, stride=stride, seed=0)
    np.testing.assert_array_equal(second_out, fresh.forward(second_X))
    np.testing.assert_array_equal(second_d_input, fresh.backward(np.ones_like(second_out)))
    # a batch of another size between two of the same size
    layer.forward(rng.standard_normal((5, 7, 6, 3)))
    np.testing.assert_array_equal(layer.forward(second_X), fresh.forward(second_X))


# ---------------------------------------------------------------------------------------------------- output_shape

def output_shape_cases():
    """(layer, input X) pairs covering every layer class over many shapes, strides, paddings and window sizes."""
    rng = np.random.default_rng(7)
    cases = []
    for (batch, height, width, in_channels, out_channels), k, padding, stride in itertools.product(
            CONV_SHAPES, FILTER_SIZES, PADDINGS, STRIDES):
        if k <= min(height, width) + 2 * padding:
            cases.append((ConvolutionalLayer(in_channels, out_channels, k, padding, stride=stride, seed=0),
                          rng.standard_normal((batch, height, width, in_channels))))
    for shape, (pool_size, stride) in itertools.product(POOL_SHAPES, POOL_CONFIGS):
        if pool_size <= min(shape[1:3]):
            cases.append((MaxPoolingLayer(pool_size, stride), rng.standard_normal(shape)))
    for batch, n_input, n_output in FC_SHAPES:
        cases.append((FullyConnectedLayer(n_input, n_output, seed=0), rng.standard_normal((batch, n_input))))
    for shape in [(3,), (2, 5), (1, 4, 5, 2), (3, 3, 2, 1, 2)]:
        cases.append((ReLULayer(), rng.standard_normal(shape)))
    for shape in [(1, 1, 1, 1), (2, 3, 4, 5), (3, 5, 2, 3)]:
        cases.append((Flattener(), rng.standard_normal(shape)))
    return cases


@pytest.mark.parametrize("as_list", [False, True], ids=["tuple", "list"])
@pytest.mark.parametrize("layer, X", output_shape_cases(), ids=lambda value: type(value).__name__)
def test_output_shape_is_the_shape_of_one_forward_output_sample(layer, X, as_list):
    """`forward(X).shape == (len(X), *layer.output_shape(X.shape[1:]))`: per sample, without the batch axis."""
    input_shape = list(X.shape[1:]) if as_list else X.shape[1:]
    shape = layer.output_shape(input_shape)
    assert type(shape) is tuple and all(type(size) is int for size in shape)
    assert shape == layer.forward(X).shape[1:]


def test_output_shapes_size_a_hand_built_network():
    """The README's use: chain output_shape through the layers to find the fully connected layer's width."""
    body = [ConvolutionalLayer(3, 8, 5, 0, seed=0), ReLULayer(), MaxPoolingLayer(2, 2),
            ConvolutionalLayer(8, 16, 3, 1, stride=2, seed=1), ReLULayer(), MaxPoolingLayer(3, 1), Flattener()]
    shape = (32, 30, 3)
    for layer in body:
        shape = layer.output_shape(shape)
    assert shape == (16 * 5 * 5,)
    fc = FullyConnectedLayer(*shape, 10, seed=2)
    out = np.random.default_rng(3).standard_normal((2, 32, 30, 3))
    for layer in [*body, fc]:
        out = layer.forward(out)
    assert out.shape == (2, *fc.output_shape(shape)) == (2, 10)


def test_output_shape_accepts_numpy_integers():
    shape = ConvolutionalLayer(3, 8, 3, 1, stride=2).output_shape((np.int64(9), np.int32(7), np.int64(3)))
    assert shape == (5, 4, 8) and all(type(size) is int for size in shape)
