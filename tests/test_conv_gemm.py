"""conv_gemm.py: forward against the loop oracle and the im2col layer, backward against central differences and the
im2col layer's gradients, float32 against float64, reused buffers, no hidden copies, refused arguments.
"""
import tracemalloc

import numpy as np
import oracles
import pytest

import conv_gemm
from conv_gemm import ConvCache, conv_backward, conv_forward
from layers import ConvolutionalLayer

# (batch, height, width, in_channels, out_channels): batch 1 to 3, odd and non-square images, 1 to 32 channels.
SHAPES = [(1, 5, 7, 1, 2), (2, 6, 5, 3, 4), (3, 7, 4, 8, 5), (2, 5, 6, 32, 3)]
# Smaller inputs for central differences, one forward pass per element and direction.
GRAD_SHAPES = [(1, 4, 5, 1, 2), (2, 3, 4, 3, 2), (1, 5, 3, 8, 2), (1, 3, 4, 32, 2)]
FILTER_SIZES = [1, 3, 5]
PADDINGS = [0, 1, 2]
DTYPES = [np.float32, np.float64]
# float64 differs from the oracle only by summation order, over at most 5 * 5 * 32 = 800 products of O(1) terms.
FLOAT64_TOLERANCE = dict(rtol=1e-11, atol=1e-11)
# float32 is compared with the float64 result of the same data, relative to the largest value of that result:
# 800 products rounded at 6e-8 stay far below 1e-5 of it.
FLOAT32_RELATIVE = 1e-5
# The convolution is linear in each argument, so central differences are exact up to roundoff.
NUMERIC_TOLERANCE = dict(rtol=1e-6, atol=1e-7)


def make_case(shape, filter_size, padding, dtype=np.float64, seed=0):
    """Random X, W, B for `shape`, skipping the combinations where the filter does not fit the padded input."""
    batch, height, width, in_channels, out_channels = shape
    if oracles.conv_output_size(min(height, width), filter_size, padding, 1) is None:
        pytest.skip(f"filter {filter_size} larger than the padded {height}x{width} input (padding {padding})")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, height, width, in_channels))
    W = rng.standard_normal((filter_size, filter_size, in_channels, out_channels))
    B = rng.standard_normal(out_channels)
    return X.astype(dtype), W.astype(dtype), B.astype(dtype)


def im2col_layer(W, B, padding, compute_input_grad=True):
    """The current ConvolutionalLayer holding W and B."""
    k, _, in_channels, out_channels = W.shape
    layer = ConvolutionalLayer(in_channels, out_channels, k, padding, dtype=W.dtype,
                               compute_input_grad=compute_input_grad)
    layer.W.value, layer.B.value = W.copy(), B.copy()
    return layer


def assert_close_to(actual, expected64):
    """`actual` has the dtype it should and matches the float64 `expected64` to that dtype's tolerance."""
    if actual.dtype == np.float32:
        scale = max(float(np.max(np.abs(expected64))), 1.0)
        np.testing.assert_allclose(actual, expected64, rtol=0, atol=FLOAT32_RELATIVE * scale)
    else:
        np.testing.assert_allclose(actual, expected64, **FLOAT64_TOLERANCE)


def every_case(test):
    """Parametrize `test(shape, filter_size, padding, dtype, ...)` over SHAPES x FILTER_SIZES x PADDINGS x DTYPES."""
    for name, values in (("shape", SHAPES), ("filter_size", FILTER_SIZES), ("padding", PADDINGS), ("dtype", DTYPES)):
        test = pytest.mark.parametrize(name, values)(test)
    return test


def gradients(X, W, B, padding, d_out, workspace=None, compute_input_grad=True):
    _, cache = conv_forward(X, W, B, padding, workspace)
    return conv_backward(d_out, cache, compute_input_grad)


# ---------------------------------------------------------------------------------------------------------- forward

@every_case
def test_forward_matches_loop_oracle(shape, filter_size, padding, dtype):
    X, W, B = make_case(shape, filter_size, padding, dtype)
    Y, _ = conv_forward(X, W, B, padding)
    expected = oracles.conv2d(X, W, B, padding)
    assert Y.dtype == dtype and Y.shape == expected.shape
    assert_close_to(Y, expected)


@every_case
def test_forward_matches_im2col_layer(shape, filter_size, padding, dtype):
    X, W, B = make_case(shape, filter_size, padding, dtype)
    Y, _ = conv_forward(X, W, B, padding)
    expected = im2col_layer(W, B, padding).forward(X)
    if dtype == np.float32:
        np.testing.assert_allclose(Y, expected, rtol=0, atol=FLOAT32_RELATIVE * np.max(np.abs(expected)))
    else:
        np.testing.assert_allclose(Y, expected, **FLOAT64_TOLERANCE)


def test_forward_computes_in_the_dtype_of_W():
    X, W, B = make_case((2, 5, 4, 3, 2), 3, 1)
    Y, _ = conv_forward(X, W.astype(np.float32), B, 1)  # float64 X and B, float32 W
    assert Y.dtype == np.float32
    assert_close_to(Y, oracles.conv2d(X, W.astype(np.float32), B, 1))


# --------------------------------------------------------------------------------------------------------- backward

@pytest.mark.parametrize("wrt", ["X", "W", "B"])
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("filter_size", FILTER_SIZES)
@pytest.mark.parametrize("shape", GRAD_SHAPES)
def test_backward_matches_numeric_gradient(shape, filter_size, padding, wrt):
    X, W, B = make_case(shape, filter_size, padding)
    d_out = np.random.default_rng(1).standard_normal(conv_forward(X, W, B, padding)[0].shape)
    analytic = dict(zip("XWB", gradients(X, W, B, padding, d_out)))[wrt]
    point = {"X": X, "W": W, "B": B}[wrt]
    numeric = oracles.numeric_gradient(lambda: float(np.sum(conv_forward(X, W, B, padding)[0] * d_out)), point)
    np.testing.assert_allclose(analytic, numeric, **NUMERIC_TOLERANCE)


@pytest.mark.parametrize("compute_input_grad", [True, False])
@every_case
def test_backward_matches_im2col_layer(shape, filter_size, padding, dtype, compute_input_grad):
    X, W, B = make_case(shape, filter_size, padding, dtype)
    layer = im2col_layer(W, B, padding, compute_input_grad)
    d_out = np.random.default_rng(1).standard_normal(layer.forward(X).shape).astype(dtype)
    expected = (layer.backward(d_out), layer.W.grad, layer.B.grad)
    actual = gradients(X, W, B, padding, d_out, compute_input_grad=compute_input_grad)
    if not compute_input_grad:
        assert actual[0] is None and expected[0] is None
    for name, ours, theirs in zip(["d_X", "d_W", "d_B"], actual, expected):
        if theirs is None:
            continue
        assert ours.dtype == dtype and ours.shape == theirs.shape, name
        tolerance = FLOAT64_TOLERANCE if dtype == np.float64 else dict(
            rtol=0, atol=FLOAT32_RELATIVE * np.max(np.abs(theirs)))
        np.testing.assert_allclose(ours, theirs, **tolerance, err_msg=name)


@pytest.mark.parametrize("filter_size, padding", [(1, 0), (3, 1), (5, 2), (5, 0)])
@pytest.mark.parametrize("shape", SHAPES)
def test_float32_is_float64_to_rounding(shape, filter_size, padding):
    X, W, B = make_case(shape, filter_size, padding)
    d_out = np.random.default_rng(1).standard_normal(conv_forward(X, W, B, padding)[0].shape)
    as32 = [array.astype(np.float32) for array in (X, W, B, d_out)]
    Y32, Y64 = conv_forward(*as32[:3], padding)[0], conv_forward(X, W, B, padding)[0]
    assert_close_to(Y32, Y64)
    for ours, reference in zip(gradients(*as32[:3], padding, as32[3]), gradients(X, W, B, padding, d_out)):
        assert ours.dtype == np.float32
        assert_close_to(ours, reference)


# ------------------------------------------------------------------------------------------------ reused workspaces

def test_reused_workspace_never_leaks_between_calls():
    rng = np.random.default_rng(5)
    _, W, B = make_case((2, 7, 6, 3, 4), 3, 1)
    first_X, second_X = rng.standard_normal((2, 2, 7, 6, 3))
    d_out = rng.standard_normal((2, 7, 6, 4))
    workspace = {}
    first_Y, first_cache = conv_forward(first_X, W, B, 1, workspace)
    first_grads = conv_backward(d_out, first_cache)
    kept = [first_Y.copy(), *(array.copy() for array in first_grads)]
    second_Y, second_cache = conv_forward(second_X, W, B, 1, workspace)
    second_grads = conv_backward(2 * d_out, second_cache)
    for array, copy in zip([first_Y, *first_grads], kept):
        np.testing.assert_array_equal(array, copy)
    fresh_Y, fresh_cache = conv_forward(second_X, W, B, 1)
    np.testing.assert_array_equal(second_Y, fresh_Y)
    for ours, fresh in zip(second_grads, conv_backward(2 * d_out, fresh_cache)):
        np.testing.assert_array_equal(ours, fresh)


@pytest.mark.parametrize("compute_input_grad", [True, False])
def test_workspace_full_of_nan_changes_nothing(compute_input_grad):
    """Every buffer is either fully written or zeroed where it is read: stale values, even NaN, never count."""
    X, W, B = make_case((2, 6, 5, 8, 3), 3, 1)
    d_out = np.random.default_rng(1).standard_normal((2, 6, 5, 3))
    expected = gradients(X, W, B, 1, d_out, compute_input_grad=compute_input_grad)
    workspace = {}
    gradients(X, W, B, 1, d_out, workspace)
    assert workspace, "the workspace should hold the buffers"
    for buffer in workspace.values():
        buffer.fill(np.nan)
    Y, cache = conv_forward(X, W, B, 1, workspace)
    np.testing.assert_array_equal(Y, conv_forward(X, W, B, 1)[0])
    for ours, theirs in zip(conv_backward(d_out, cache, compute_input_grad), expected):
        np.testing.assert_array_equal(ours, theirs)


def test_one_workspace_for_many_geometries():
    """Padding 1 on 5x5 and padding 0 on 7x7 share the padded shape, but not the zero border or the valid outputs;
    batch sizes, filter sizes and dtypes change in between."""
    rng = np.random.default_rng(3)
    workspace = {}
    cases = [((2, 5, 5, 3, 4), 3, 1), ((2, 7, 7, 3, 4), 3, 0), ((2, 7, 7, 3, 4), 1, 0), ((2, 5, 5, 3, 4), 3, 1),
             ((4, 5, 5, 3, 4), 3, 1), ((2, 5, 5, 3, 4), 3, 1)]
    for dtype in (np.float64, np.float32, np.float64):
        for shape, filter_size, padding in cases:
            X, W, B = make_case(shape, filter_size, padding, dtype, seed=int(rng.integers(100)))
            X[...] = 1 + rng.random(X.shape)  # no zeros: a missing zero border would show
            d_out = rng.standard_normal(conv_forward(X, W, B, padding)[0].shape).astype(dtype)
            shared = gradients(X, W, B, padding, d_out, workspace)
            for ours, fresh in zip(shared, gradients(X, W, B, padding, d_out)):
                np.testing.assert_array_equal(ours, fresh)


@pytest.mark.parametrize("dtype", DTYPES)
def test_products_copy_no_operand(dtype, monkeypatch):
    """scipy's BLAS wrappers silently copy any operand that is not Fortran-contiguous of the gemm's dtype; the
    output must also be written in place, as the functions ignore what gemm returns."""
    calls = []

    def checked_gemm(alpha, a, b, **options):
        result = gemm(alpha, a, b, **options)
        calls.append(([(array.flags.f_contiguous, array.dtype) for array in (a, b, options["c"])],
                      np.shares_memory(result, options["c"])))
        return result

    gemm = conv_gemm._GEMM[np.dtype(dtype)]
    monkeypatch.setitem(conv_gemm._GEMM, np.dtype(dtype), checked_gemm)
    X, W, B = make_case((2, 5, 4, 3, 2), 3, 1, dtype)
    gradients(X, W, B, 1, np.ones((2, 5, 4, 2), dtype))
    assert len(calls) == 3 * 9
    for operands, in_place in calls:
        assert operands == [(True, dtype)] * 3 and in_place


def traced_extra_bytes(function, returned_arrays):
    """Run `function` under tracemalloc; return its outputs and its peak allocation beyond the arrays it returns."""
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        outputs = function()
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    kept = sum(array.nbytes for array in returned_arrays(outputs) if array is not None)
    return outputs, peak - kept


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_large_temporaries(dtype):
    """With a warm workspace, nothing near the size of the padded input is allocated beyond the returned arrays
    (forward: a ufunc buffer of a few 10 kB; backward: the vector of ones that sums d_B)."""
    X, W, B = make_case((16, 16, 16, 32, 32), 3, 1, dtype)
    d_out = np.ones((16, 16, 16, 32), dtype)
    workspace = {}
    gradients(X, W, B, 1, d_out, workspace)
    slack = workspace["padded"].nbytes / 4
    (Y, cache), extra = traced_extra_bytes(lambda: conv_forward(X, W, B, 1, workspace), lambda out: [out[0]])
    assert extra < slack
    ones_bytes = cache.padded.shape[0] * np.dtype(dtype).itemsize
    for compute_input_grad in (False, True):
        def backward(compute_input_grad=compute_input_grad):
            return conv_backward(d_out, cache, compute_input_grad)
        _, extra = traced_extra_bytes(backward, lambda out: out)
        assert extra < ones_bytes + slack


# ------------------------------------------------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("X_shape, W_shape, B_shape, padding, error, message", [
    ((2, 5, 5, 3), (3, 2, 3, 4), (4,), 1, ValueError, r"`W` must have shape \(k, k, in_channels, out_channels\)"),
    ((2, 5, 5, 3), (3, 3, 3), (4,), 1, ValueError, "`W` must have 4 dimensions, got 3"),
    ((2, 5, 5, 2), (3, 3, 3, 4), (4,), 1, ValueError, "`X` must have 3 channels in its last axis"),
    ((5, 5, 3), (3, 3, 3, 4), (4,), 1, ValueError, "`X` must be 4-D"),
    ((2, 5, 5, 3), (3, 3, 3, 4), (3,), 1, ValueError, r"`B` must have shape \(4,\)"),
    ((2, 5, 5, 3), (3, 3, 3, 4), (4,), -1, ValueError, "`padding` must be an integer >= 0, got -1"),
    ((2, 5, 5, 3), (3, 3, 3, 4), (4,), 1.0, TypeError, "`padding` must be an integer"),
    ((2, 2, 5, 3), (5, 5, 3, 4), (4,), 1, ValueError, "filter size 5 is larger than the padded input"),
])
def test_forward_refuses(X_shape, W_shape, B_shape, padding, error, message):
    with pytest.raises(error, match=message):
        conv_forward(np.zeros(X_shape), np.zeros(W_shape), np.zeros(B_shape), padding)


def test_forward_refuses_integer_images():
    with pytest.raises(TypeError, match="`X` must be an array of floats"):
        conv_forward(np.zeros((1, 3, 3, 1), dtype=np.uint8), np.zeros((1, 1, 1, 1)), np.zeros(1), 0)


def test_backward_refuses():
    _, cache = conv_forward(np.zeros((2, 5, 4, 3)), np.zeros((3, 3, 3, 2)), np.zeros(2), 0)
    with pytest.raises(ValueError, match=r"`d_out` must have the shape of the forward output \(2, 3, 2, 2\), got"):
        conv_backward(np.zeros((2, 5, 4, 2)), cache)
    with pytest.raises(TypeError, match="`d_out` must be an array of floats"):
        conv_backward(np.zeros((2, 3, 2, 2), dtype=int), cache)
    with pytest.raises(TypeError, match="`cache` must be the ConvCache returned by conv_forward, got tuple"):
        conv_backward(np.zeros((2, 3, 2, 2)), tuple(cache))
    assert isinstance(cache, ConvCache)
