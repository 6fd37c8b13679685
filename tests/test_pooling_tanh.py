"""AveragePoolingLayer, GlobalAveragePooling, TanhLayer and the kernels avg_pool / avg_pool_backward.

Forward passes against plain loops (one window, one element at a time, float64); backward passes against numeric
gradients (gradient_check, float64) and against a loop that adds each window's share onto its pixels, so that
overlapping windows are covered by an oracle that cannot forget to accumulate.
"""
import json
import math

import numpy as np
import pytest

from gradient_check import check_layer_gradient
from layers import AveragePoolingLayer, GlobalAveragePooling, TanhLayer, avg_pool, avg_pool_backward

DTYPES = [np.float32, np.float64]
# (batch, height, width, channels): batch 1, odd and even sizes, non-square
POOL_SHAPES = [(1, 5, 5, 1), (2, 6, 4, 2), (3, 7, 9, 3), (2, 8, 8, 1)]
# (pool_size, stride): disjoint, overlapping (stride < pool), gapped (stride > pool), windows left over at the edges
POOL_CONFIGS = [(1, 1), (2, 2), (2, 1), (3, 1), (3, 2), (3, 3), (2, 3), (4, 4), (4, 2)]
GRAD_SHAPES = [(1, 5, 4, 1), (2, 4, 5, 2), (1, 6, 3, 2)]
FORWARD_TOLERANCE = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-13, atol=1e-13)}


# ---------------------------------------------------------------------------------------------------------- oracles

def avg_pool_oracle(X, pool_size, stride):
    """Mean of every pool_size x pool_size window moved by stride, one window and channel at a time."""
    X = np.asarray(X, dtype=np.float64)
    batch, height, width, channels = X.shape
    out_height, out_width = (height - pool_size) // stride + 1, (width - pool_size) // stride + 1
    out = np.zeros((batch, out_height, out_width, channels))
    for n, y, x, c in np.ndindex(out.shape):
        window = X[n, y * stride:y * stride + pool_size, x * stride:x * stride + pool_size, c]
        out[n, y, x, c] = math.fsum(window.ravel()) / pool_size ** 2
    return out


def avg_pool_backward_oracle(d_out, input_shape, pool_size, stride):
    """Each window's d_out / pool_size**2 added onto each of its pixels, one pixel at a time."""
    d_X = np.zeros(input_shape)
    for n, y, x, c in np.ndindex(d_out.shape):
        for i in range(pool_size):
            for j in range(pool_size):
                d_X[n, y * stride + i, x * stride + j, c] += d_out[n, y, x, c] / pool_size ** 2
    return d_X


def skip_unless_fits(shape, pool_size):
    if pool_size > min(shape[1:3]):
        pytest.skip("pool window larger than the input")


# ------------------------------------------------------------------------------------------------ average pooling

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool_size, stride", POOL_CONFIGS)
@pytest.mark.parametrize("shape", POOL_SHAPES)
def test_avg_pool_forward_and_backward_match_loops(shape, pool_size, stride, dtype):
    skip_unless_fits(shape, pool_size)
    rng = np.random.default_rng(0)
    X = rng.standard_normal(shape).astype(dtype)
    layer = AveragePoolingLayer(pool_size, stride)
    out = layer.forward(X)
    expected = avg_pool_oracle(X, pool_size, stride)
    assert out.dtype == dtype and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **FORWARD_TOLERANCE[dtype])
    d_out = rng.standard_normal(out.shape).astype(dtype)
    d_X = layer.backward(d_out)
    assert d_X.dtype == dtype and d_X.shape == shape
    np.testing.assert_allclose(d_X, avg_pool_backward_oracle(d_out, shape, pool_size, stride),
                               **FORWARD_TOLERANCE[dtype])
    np.testing.assert_array_equal(out, avg_pool(X, pool_size, stride))
    np.testing.assert_array_equal(d_X, avg_pool_backward(d_out, shape, pool_size, stride))


@pytest.mark.parametrize("pool_size, stride", POOL_CONFIGS)
@pytest.mark.parametrize("shape", GRAD_SHAPES)
def test_avg_pool_backward_matches_numeric_gradient(shape, pool_size, stride):
    skip_unless_fits(shape, pool_size)
    X = np.random.default_rng(1).standard_normal(shape)
    assert check_layer_gradient(AveragePoolingLayer(pool_size, stride), X)


def test_avg_pool_backward_accumulates_where_windows_overlap():
    """Pool 3, stride 1 on a 1 x 5 x 5 x 1 image of ones: the centre pixel is in all nine windows."""
    layer = AveragePoolingLayer(3, 1)
    layer.forward(np.ones((1, 5, 5, 1)))
    d_X = layer.backward(np.ones((1, 3, 3, 1)))
    counts = np.array([1, 2, 3, 2, 1])
    np.testing.assert_allclose(d_X[0, :, :, 0], np.outer(counts, counts) / 9)


def test_avg_pool_output_shape():
    layer = AveragePoolingLayer(3, 2)
    assert layer.output_shape((7, 9, 3)) == (3, 4, 3)
    assert layer.output_shape([3, 3, 1]) == (1, 1, 1)
    X = np.zeros((2, 7, 9, 3))
    assert layer.forward(X).shape == (2, *layer.output_shape(X.shape[1:]))
    with pytest.raises(ValueError, match=r"`input_shape` \(2, 9, 3\) is too small: `pool_size` 3 is larger"):
        layer.output_shape((2, 9, 3))
    with pytest.raises(ValueError, match=r"`input_shape` must be the shape of one sample, \(height, width, "
                                         r"channels\) without the batch axis, got \(2, 7, 9, 3\)"):
        layer.output_shape((2, 7, 9, 3))


@pytest.mark.parametrize("arguments, error, match", [
    ((0, 1), ValueError, r"`pool_size` must be a positive integer, got 0"),
    ((2, 0), ValueError, r"`stride` must be a positive integer, got 0"),
    ((2.0, 2), TypeError, r"`pool_size` must be an integer, got 2.0"),
    ((2, True), TypeError, r"`stride` must be an integer, got True"),
])
def test_avg_pool_layer_constructor_refuses(arguments, error, match):
    with pytest.raises(error, match=match):
        AveragePoolingLayer(*arguments)


def test_avg_pool_layer_refuses_bad_input_and_early_backward():
    layer = AveragePoolingLayer(3, 1)
    with pytest.raises(ValueError, match=r"AveragePoolingLayer.backward\(\) was called before forward\(\)"):
        layer.backward(np.ones((1, 1, 1, 1)))
    with pytest.raises(ValueError, match=r"`X` must be 4-D \(batch, height, width, channels\), got shape \(4, 4\)"):
        layer.forward(np.ones((4, 4)))
    with pytest.raises(TypeError, match=r"`X` must be an array of floats"):
        layer.forward(np.ones((1, 4, 4, 1), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"`pool_size` 3 is larger than the input \(2x4 height x width\)"):
        layer.forward(np.ones((1, 2, 4, 1)))
    layer.forward(np.ones((1, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"`d_out` must have the shape of the last forward output \(1, 2, 2, 2\), "
                                         r"got \(1, 2, 2, 1\)"):
        layer.backward(np.ones((1, 2, 2, 1)))


@pytest.mark.parametrize("call, error, match", [
    (lambda: avg_pool(np.ones((1, 4, 4, 1)), 5, 1), ValueError, r"`pool_size` 5 is larger than the input"),
    (lambda: avg_pool(np.ones((4, 4)), 2, 2), ValueError, r"`X` must be 4-D"),
    (lambda: avg_pool(np.ones((1, 4, 4, 1)), 2, 0), ValueError, r"`stride` must be a positive integer, got 0"),
    (lambda: avg_pool_backward(np.ones((1, 2, 2, 1)), (1, 4, 4), 2, 2), ValueError,
     r"`input_shape` must have 4 entries \(batch, height, width, channels\), got \(1, 4, 4\)"),
    (lambda: avg_pool_backward(np.ones((1, 3, 2, 1)), (1, 4, 4, 1), 2, 2), ValueError,
     r"`d_out` must have shape \(1, 2, 2, 1\), the output of avg_pool for `input_shape` \(1, 4, 4, 1\), "
     r"pool_size 2 and stride 2; got \(1, 3, 2, 1\)"),
    (lambda: avg_pool_backward(np.ones((1, 2, 2, 1), dtype=np.int32), (1, 4, 4, 1), 2, 2), TypeError,
     r"`d_out` must be an array of floats"),
])
def test_avg_pool_kernels_refuse(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --------------------------------------------------------------------------------------------- global average pool

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 5, 4), (3, 4, 4, 2), (1, 7, 2, 3)])
def test_global_average_pooling_matches_loops(shape, dtype):
    rng = np.random.default_rng(2)
    X = rng.standard_normal(shape).astype(dtype)
    layer = GlobalAveragePooling()
    out = layer.forward(X)
    expected = np.array([[math.fsum(X[n, :, :, c].astype(np.float64).ravel()) / (shape[1] * shape[2])
                          for c in range(shape[3])] for n in range(shape[0])])
    assert out.dtype == dtype and out.shape == (shape[0], shape[3])
    np.testing.assert_allclose(out, expected, **FORWARD_TOLERANCE[dtype])
    d_out = rng.standard_normal(out.shape).astype(dtype)
    d_X = layer.backward(d_out)
    assert d_X.dtype == dtype and d_X.shape == shape
    for n, y, x, c in np.ndindex(shape):
        assert math.isclose(d_X[n, y, x, c], d_out[n, c] / (shape[1] * shape[2]), rel_tol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1, 1, 2), (2, 3, 4, 2), (1, 5, 2, 3)])
def test_global_average_pooling_backward_matches_numeric_gradient(shape):
    X = np.random.default_rng(3).standard_normal(shape)
    assert check_layer_gradient(GlobalAveragePooling(), X)


def test_global_average_pooling_output_shape_and_refusals():
    layer = GlobalAveragePooling()
    assert layer.output_shape((4, 5, 6)) == (6,)
    X = np.zeros((2, 4, 5, 6))
    assert layer.forward(X).shape == (2, *layer.output_shape(X.shape[1:]))
    assert layer.params() == {}
    with pytest.raises(ValueError, match=r"`input_shape` must be the shape of one sample, \(height, width, "
                                         r"channels\) without the batch axis, got \(5, 6\)"):
        layer.output_shape((5, 6))
    with pytest.raises(ValueError, match=r"`X` must be 4-D \(batch, height, width, channels\), got shape \(2, 6\)"):
        layer.forward(np.zeros((2, 6)))
    with pytest.raises(ValueError, match=r"GlobalAveragePooling.backward\(\) was called before forward\(\)"):
        GlobalAveragePooling().backward(np.zeros((2, 6)))
    with pytest.raises(ValueError, match=r"`d_out` must have the shape of the last forward output \(2, 6\), "
                                         r"got \(2, 5\)"):
        layer.backward(np.zeros((2, 5)))


# ------------------------------------------------------------------------------------------------------------ tanh

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3,), (2, 5), (1, 4, 3, 2), (2, 3, 1, 2, 2)])
def test_tanh_forward_and_backward_match_formulas(shape, dtype):
    rng = np.random.default_rng(4)
    X = (rng.standard_normal(shape) * 3).astype(dtype)
    layer = TanhLayer()
    out = layer.forward(X)
    assert out.dtype == dtype and out.shape == shape
    d_out = rng.standard_normal(shape).astype(dtype)
    d_X = layer.backward(d_out)
    assert d_X.dtype == dtype
    for index in np.ndindex(shape):
        value = math.tanh(float(X[index]))
        assert math.isclose(out[index], value, rel_tol=1e-6, abs_tol=1e-7)
        assert math.isclose(d_X[index], float(d_out[index]) * (1 - value * value), rel_tol=1e-5, abs_tol=1e-6)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 2)])
def test_tanh_backward_matches_numeric_gradient(shape):
    X = np.random.default_rng(5).standard_normal(shape) * 2
    assert check_layer_gradient(TanhLayer(), X)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_saturates_without_overflow(dtype):
    X = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=dtype)
    layer = TanhLayer()
    with np.errstate(all="raise"):
        out = layer.forward(X)
        d_X = layer.backward(np.ones_like(X))
    np.testing.assert_array_equal(out, np.array([[-1, -1, 0, 1, 1]], dtype=dtype))
    np.testing.assert_array_equal(d_X, np.array([[0, 0, 1, 0, 0]], dtype=dtype))


def test_tanh_output_shape_and_refusals():
    layer = TanhLayer()
    assert layer.output_shape((3, 4)) == (3, 4)
    assert layer.params() == {}
    with pytest.raises(TypeError, match=r"`X` must be an array of floats"):
        layer.forward(np.ones(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"TanhLayer.backward\(\) was called before forward\(\)"):
        layer.backward(np.ones(3))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"`d_out` must have the shape of the last forward output \(2, 3\), "
                                         r"got \(3,\)"):
        layer.backward(np.ones(3))


@pytest.mark.parametrize("layer", [TanhLayer(), AveragePoolingLayer(3, 2), GlobalAveragePooling()],
                         ids=lambda layer: type(layer).__name__)
def test_config_rebuilds_the_layer(layer):
    """config() is JSON-serializable and rebuilds a layer that computes the same thing."""
    rebuilt = type(layer)(**json.loads(json.dumps(layer.config())))
    X = np.random.default_rng(6).standard_normal((2, 5, 7, 3))
    np.testing.assert_array_equal(rebuilt.forward(X), layer.forward(X))
