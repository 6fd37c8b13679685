"""kernels.py called directly: results against the plain loops of tests/oracles.py, and every bad argument refused
with a TypeError or ValueError that names it, before any work (issue 9, item 7)."""
import numpy as np
import oracles
import pytest

import kernels
import layers
from kernels import col2im, conv_output_shape, im2col, max_pool, max_pool_backward

DTYPES = [np.float32, np.float64]
# Overlapping windows add their gradients in another order than the loops do.
TOLERANCE = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
IMAGES = np.random.default_rng(0).standard_normal((2, 5, 4, 3))  # (batch, height, width, channels)


def pooled(X=IMAGES, pool_size=2, stride=2):
    """max_pool's (out, argmax) of X and a matching d_out of ones."""
    out, argmax = max_pool(X, pool_size, stride)
    return np.ones_like(out), argmax


# ------------------------------------------------------------------------------------------------------- results

# (batch, height, width, channels): the last two take im2col's channels-last layout (kernels.CHANNELS_LAST_FROM).
IM2COL_SHAPES = [(1, 5, 5, 1), (2, 6, 4, 3), (3, 4, 7, 2), (2, 5, 6, 8), (1, 4, 3, 11)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("filter_size, padding, stride", [(1, 0, 1), (2, 0, 2), (3, 1, 1), (3, 2, 3), (4, 1, 2)])
@pytest.mark.parametrize("shape", IM2COL_SHAPES)
def test_im2col_matches_the_patch_loop(shape, filter_size, padding, stride, dtype, rng):
    X = rng.standard_normal(shape).astype(dtype)
    cols = im2col(X, filter_size, padding, stride)
    assert cols.dtype == dtype
    np.testing.assert_array_equal(cols, oracles.im2col(X, filter_size, padding, stride).astype(dtype))


@pytest.mark.parametrize("shape, filter_size, padding, stride", [
    ((2, 5, 5, 3), 3, 1, 1),
    ((1, 6, 4, 2), 2, 0, 2),
    ((3, 7, 6, 1), 5, 2, 3),
    ((2, 4, 7, 4), 1, 2, 2),
    ((1, 3, 3, 2), 3, 0, 1),
    ((2, 5, 6, 8), 3, 1, 2),
    ((1, 6, 5, 12), 2, 2, 1),
])
def test_im2col_col2im_are_adjoint(shape, filter_size, padding, stride, rng):
    """<im2col(x), c> == <x, col2im(c)> for random x and c: col2im is the exact transpose of im2col."""
    X = rng.standard_normal(shape)
    cols = im2col(X, filter_size, padding, stride)
    batch, height, width, channels = shape
    out_height = oracles.conv_output_size(height, filter_size, padding, stride)
    out_width = oracles.conv_output_size(width, filter_size, padding, stride)
    assert cols.shape == (filter_size * filter_size * channels, batch * out_height * out_width)
    C = rng.standard_normal(cols.shape)
    back = col2im(C, X.shape, filter_size, padding, stride)
    assert back.shape == X.shape
    np.testing.assert_allclose(np.sum(cols * C), np.sum(X * back), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool_size, stride", [(1, 1), (2, 2), (2, 1), (3, 1), (3, 2), (2, 3), (4, 4)])
@pytest.mark.parametrize("shape", [(1, 5, 5, 1), (2, 6, 4, 2), (3, 7, 9, 3)])
def test_max_pool_and_its_backward_match_the_loops(shape, pool_size, stride, dtype, rng):
    if pool_size > min(shape[1:3]):
        pytest.skip("window larger than the input")
    X = rng.integers(0, 3, size=shape).astype(dtype)  # many ties: the first maximum must win
    out, argmax = max_pool(X, pool_size, stride)
    assert out.dtype == dtype and np.issubdtype(argmax.dtype, np.unsignedinteger) and argmax.shape == out.shape
    np.testing.assert_array_equal(out, oracles.max_pool(X, pool_size, stride).astype(dtype))
    d_out = rng.standard_normal(out.shape).astype(dtype)
    d_X = max_pool_backward(d_out, argmax, X.shape, pool_size, stride)
    assert d_X.dtype == dtype
    np.testing.assert_allclose(d_X, oracles.max_pool_backward(X, d_out, pool_size, stride), **TOLERANCE[dtype])


@pytest.mark.parametrize("input_shape, filter_size, padding, stride, expected", [
    ((32, 32), 3, 1, 1, (32, 32)),
    ((9, 7), 3, 1, 2, (5, 4)),
    ((5, 6), 5, 0, 1, (1, 2)),
    ([4, 4], 7, 2, 3, (1, 1)),
    ((3, 3), 1, 0, 2, (2, 2)),
])
def test_conv_output_shape(input_shape, filter_size, padding, stride, expected):
    assert conv_output_shape(input_shape, filter_size, padding, stride) == expected


def test_nested_lists_of_floats_work_like_arrays():
    """As in numpy, an array-like of floats is accepted; the layers accept it too."""
    X = IMAGES[:1, :3, :3, :1]
    np.testing.assert_array_equal(im2col(X.tolist(), 2, 0, 1), im2col(X, 2, 0, 1))
    np.testing.assert_array_equal(max_pool(X.tolist(), 2, 1)[0], max_pool(X, 2, 1)[0])


@pytest.mark.parametrize("name", ["im2col", "col2im", "max_pool", "max_pool_backward", "conv_output_shape",
                                  "CHANNELS_LAST_FROM"])
def test_layers_still_exports_the_kernels(name):
    assert getattr(layers, name) is getattr(kernels, name)


def test_reused_workspace_gives_the_same_results(rng):
    workspace = {}
    for shape in [(2, 5, 4, 3), (3, 5, 4, 3), (2, 5, 4, 3), (2, 6, 6, 9)]:
        X = rng.standard_normal(shape)
        cols = im2col(X, 3, 1, 2, workspace)
        np.testing.assert_array_equal(cols, im2col(X, 3, 1, 2))
        d_cols = rng.standard_normal(cols.shape)
        np.testing.assert_array_equal(col2im(d_cols, shape, 3, 1, 2, workspace), col2im(d_cols, shape, 3, 1, 2))


# ------------------------------------------------------------------------------------------------------ refusals

BAD_CALLS = {
    # max_pool
    "pool-size-0": (lambda: max_pool(IMAGES, 0, 1), ValueError, r"`pool_size` must be a positive integer, got 0"),
    "pool-stride-0": (lambda: max_pool(IMAGES, 2, 0), ValueError, r"`stride` must be a positive integer, got 0"),
    "pool-size-float": (lambda: max_pool(IMAGES, 2.0, 2), TypeError, r"`pool_size` must be an integer, got 2\.0"),
    "pool-window-too-large": (lambda: max_pool(IMAGES, 5, 1), ValueError,
                              r"`pool_size` 5 is larger than the input \(5x4 height x width\)"),
    "pool-3d": (lambda: max_pool(IMAGES[0], 2, 2), ValueError,
                r"`X` must be 4-D \(batch, height, width, channels\), got shape \(5, 4, 3\)"),
    "pool-int": (lambda: max_pool(IMAGES.astype(int), 2, 2), TypeError, r"`X` must be an array of floats .*int64"),
    "pool-int-list": (lambda: max_pool([[[[1, 2], [3, 4]]]], 1, 1), TypeError, r"`X` must be an array of floats"),
    "pool-ragged-list": (lambda: max_pool([[[[1.0]]], [[[1.0, 2.0]]]], 1, 1), TypeError, r"`X` must be an array"),
    "pool-str": (lambda: max_pool("images", 1, 1), TypeError, r"`X` must be an array of floats"),
    # im2col
    "im2col-stride-0": (lambda: im2col(IMAGES, 3, 1, 0), ValueError, r"`stride` must be a positive integer, got 0"),
    "im2col-padding-negative": (lambda: im2col(IMAGES, 3, -1, 1), ValueError,
                                r"`padding` must be an integer >= 0, got -1"),
    "im2col-filter-0": (lambda: im2col(IMAGES, 0, 1, 1), ValueError, r"`filter_size` must be a positive integer"),
    "im2col-filter-too-large": (lambda: im2col(IMAGES, 7, 1, 1), ValueError,
                                r"`filter_size` 7 is larger than the padded input \(7x6 height x width, padding 1\)"),
    "im2col-3d": (lambda: im2col(IMAGES[0], 3, 1, 1), ValueError, r"`X` must be 4-D .*got shape \(5, 4, 3\)"),
    "im2col-list-3d": (lambda: im2col(IMAGES[0].tolist(), 3, 1, 1), ValueError, r"`X` must have 4 dimensions"),
    "im2col-int": (lambda: im2col(IMAGES.astype(np.int32), 3, 1, 1), TypeError, r"`X` .*got dtype int32"),
    "im2col-bool": (lambda: im2col(IMAGES > 0, 3, 1, 1), TypeError, r"`X` .*got dtype bool"),
    "im2col-workspace": (lambda: im2col(IMAGES, 3, 1, 1, []), TypeError,
                         r"`workspace` must be None or a dict, got list"),
    # col2im
    "col2im-cols-shape": (lambda: col2im(np.ones((27, 39)), IMAGES.shape, 3, 1, 1), ValueError,
                          r"`cols` must have shape \(27, 40\) \(filter_size \* filter_size \* channels, "
                          r"batch \* out_height \* out_width\), got \(27, 39\)"),
    "col2im-cols-1d": (lambda: col2im(np.ones(27 * 40), IMAGES.shape, 3, 1, 1), ValueError,
                       r"`cols` must have 2 dimensions, got 1"),
    "col2im-cols-int": (lambda: col2im(np.ones((27, 40), int), IMAGES.shape, 3, 1, 1), TypeError,
                        r"`cols` .*int64"),
    "col2im-input-shape-3": (lambda: col2im(np.ones((27, 40)), (5, 4, 3), 3, 1, 1), ValueError,
                             r"`input_shape` must have 4 entries \(batch, height, width, channels\), got \(5, 4, 3\)"),
    "col2im-input-shape-float": (lambda: col2im(np.ones((27, 40)), (2, 5.0, 4, 3), 3, 1, 1), TypeError,
                                 r"`input_shape` must hold integers, got \(2, 5\.0, 4, 3\)"),
    "col2im-input-shape-negative": (lambda: col2im(np.ones((27, 40)), (2, -5, 4, 3), 3, 1, 1), ValueError,
                                    r"`input_shape` must hold sizes >= 0, got \(2, -5, 4, 3\)"),
    "col2im-input-shape-array": (lambda: col2im(np.ones((27, 40)), np.array(IMAGES.shape), 3, 1, 1), TypeError,
                                 r"`input_shape` must be a tuple of ints, got ndarray"),
    "col2im-stride-0": (lambda: col2im(np.ones((27, 40)), IMAGES.shape, 3, 1, 0), ValueError, r"`stride`"),
    # max_pool_backward
    "pool-backward-d-out-shape": (lambda: max_pool_backward(np.ones((2, 2, 2, 4)), pooled()[1], IMAGES.shape, 2, 2),
                                  ValueError, r"`argmax` must have the shape of `d_out` \(2, 2, 2, 4\), "
                                              r"got \(2, 2, 2, 3\)"),
    "pool-backward-input-shape": (lambda: max_pool_backward(*pooled(), (2, 7, 4, 3), 2, 2), ValueError,
                                  r"`d_out` must have shape \(2, 3, 2, 3\), the output of max_pool for "
                                  r"`input_shape` \(2, 7, 4, 3\), pool_size 2 and stride 2; got \(2, 2, 2, 3\)"),
    "pool-backward-stride": (lambda: max_pool_backward(*pooled(), IMAGES.shape, 2, 1), ValueError,
                             r"`d_out` must have shape \(2, 4, 3, 3\)"),
    "pool-backward-argmax-signed": (lambda: max_pool_backward(pooled()[0], pooled()[1].astype(np.int64),
                                                              IMAGES.shape, 2, 2), TypeError,
                                    r"`argmax` must be the unsigned integer array that max_pool returns, got int64"),
    "pool-backward-argmax-list": (lambda: max_pool_backward(pooled()[0], pooled()[1].tolist(), IMAGES.shape, 2, 2),
                                  TypeError, r"`argmax` must be the unsigned integer array .*got list"),
    "pool-backward-d-out-int": (lambda: max_pool_backward(pooled()[0].astype(int), pooled()[1], IMAGES.shape, 2, 2),
                                TypeError, r"`d_out` .*int64"),
    "pool-backward-d-out-3d": (lambda: max_pool_backward(pooled()[0][0], pooled()[1][0], IMAGES.shape, 2, 2),
                               ValueError, r"`d_out` must be 4-D"),
    "pool-backward-size-0": (lambda: max_pool_backward(*pooled(), IMAGES.shape, 0, 2), ValueError,
                             r"`pool_size` must be a positive integer, got 0"),
    # conv_output_shape
    "conv-shape-rank": (lambda: conv_output_shape((2, 32, 32, 3), 3, 1, 1), ValueError,
                        r"`input_shape` must have 2 entries \(height, width\), got \(2, 32, 32, 3\)"),
    "conv-shape-stride": (lambda: conv_output_shape((32, 32), 3, 1, 0), ValueError, r"`stride`"),
    "conv-shape-too-small": (lambda: conv_output_shape((2, 3), 5, 1, 1), ValueError, r"`filter_size` 5 is larger"),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_refused_with_a_message_naming_the_argument(case):
    call, error, match = BAD_CALLS[case]
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("dtype", [np.float16, np.complex128, np.longdouble, np.int8, np.uint8, bool, object])
@pytest.mark.parametrize("call, name", [
    (lambda X: im2col(X, 3, 1, 1), "X"),
    (lambda X: max_pool(X, 2, 2), "X"),
    (lambda X: col2im(im2col(IMAGES, 3, 1, 1).astype(X.dtype), IMAGES.shape, 3, 1, 1), "cols"),
    (lambda X: max_pool_backward(pooled()[0].astype(X.dtype), pooled()[1], IMAGES.shape, 2, 2), "d_out"),
], ids=["im2col", "max_pool", "col2im", "max_pool_backward"])
def test_only_float32_and_float64_are_accepted(call, name, dtype):
    if np.dtype(dtype) == np.float64:
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises(TypeError, match=rf"`{name}` must be an array of floats \(float32 or float64\), "
                                        rf"got dtype {np.dtype(dtype)}"):
        call(IMAGES.astype(dtype))


def test_a_refused_call_leaves_the_workspace_alone(rng):
    workspace = {}
    cols = im2col(IMAGES, 3, 1, 1, workspace)
    kept = {name: array.copy() for name, array in workspace.items()}
    with pytest.raises(ValueError):
        im2col(IMAGES, 3, 1, 0, workspace)
    with pytest.raises(ValueError):
        col2im(np.ones((27, 39)), IMAGES.shape, 3, 1, 1, workspace)
    assert workspace.keys() == kept.keys()
    for name, array in kept.items():
        np.testing.assert_array_equal(workspace[name], array)
    np.testing.assert_array_equal(cols, im2col(IMAGES, 3, 1, 1))
