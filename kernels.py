"""The array functions behind the layers, numpy only: patches for the convolution, window maxima and means for the
pooling, the activations and the fully connected products.

Images are NHWC: (batch, height, width, channels), float32 or float64. `conv_output_shape`, `im2col`, `col2im` and
the pooling functions check their arguments first (a TypeError or ValueError naming the argument; metadata only,
never a pass over the data) and then call their twin `<name>_unchecked`, which the layers call directly once they
have checked their own input. The other public functions (`pool_output_shape`, the im2col convolution, the activations
and the fully connected products) serve the layers and trust their arguments too. The kernels split large arrays
along their first axis (the batch) into chunks run at once on the threads of `threads.py`; results do not depend on
timing, and sums across chunks are added in chunk order.
"""
import functools
import numbers

import numpy as np

import threads
from validation import check_float_array, check_images, check_int

# im2col lays the patches out channels first below this many input channels, so that its copies run along image
# rows (3 channels last would give runs of 3 numbers), and channels last from it on, where runs of channels are long.
CHANNELS_LAST_FROM = 8


def conv_output_shape(input_shape, filter_size, padding, stride):
    """Height and width of a convolution's output.

    Parameters
    ----------
    input_shape : (height, width)
    filter_size : int >= 1
    padding : int >= 0
    stride : int >= 1

    Returns
    -------
    (out_height, out_width) : tuple of ints
        `out_height = (height + 2 * padding - filter_size) // stride + 1`, and likewise for the width.

    Raises
    ------
    ValueError
        When the filter is larger than the padded input.
    """
    input_shape = check_shape(input_shape, "input_shape", ("height", "width"))
    filter_size, padding, stride = _check_window(filter_size, padding, stride)
    return conv_output_shape_unchecked(input_shape, filter_size, padding, stride)


def im2col(X, filter_size, padding, stride, workspace=None):
    """Every filter-sized patch of the zero-padded `X`, one patch per column.

    Parameters
    ----------
    X : ndarray of shape (batch, height, width, channels), float32 or float64
    filter_size : int >= 1
    padding : int >= 0
        Zeros added on each side of the height and width.
    stride : int >= 1
    workspace : dict, optional
        Buffers kept from an earlier call of the same shapes and reused (the returned `cols` is one of them): large
        arrays are then not handed back to the OS and faulted in again on every call.

    Returns
    -------
    cols : ndarray of shape (filter_size * filter_size * channels, batch * out_height * out_width), dtype of X
        Rows ordered (i, j, channel) like `W.reshape(-1, out_channels)`; columns ordered (batch, out_y, out_x);
        `out_height` and `out_width` as `conv_output_shape` gives them.
        C-contiguous below `CHANNELS_LAST_FROM` channels, F-contiguous (each patch contiguous) from it on.
    """
    X = check_images(X, "X")
    filter_size, padding, stride = _check_window(filter_size, padding, stride)
    _check_workspace(workspace)
    return im2col_unchecked(X, filter_size, padding, stride, workspace)


def col2im(cols, input_shape, filter_size, padding, stride, workspace=None):
    """Adjoint of `im2col`: adds every column back onto the pixels of its patch.

    Parameters
    ----------
    cols : ndarray of shape (filter_size * filter_size * channels, batch * out_height * out_width)
        float32 or float64, in either memory order; the one `im2col` gives for this many channels avoids a copy.
    input_shape : (batch, height, width, channels)
        The shape of the `X` given to `im2col`.
    filter_size, padding, stride : int
        As given to `im2col`.
    workspace : dict, optional
        Buffers reused between calls, as for `im2col`; the returned array is always a new one.

    Returns
    -------
    ndarray of shape `input_shape`, dtype of `cols`
    """
    cols = check_float_array(cols, "cols", ndim=2)
    input_shape = check_shape(input_shape, "input_shape", ("batch", "height", "width", "channels"), minimum=0)
    filter_size, padding, stride = _check_window(filter_size, padding, stride)
    _check_workspace(workspace)
    batch, height, width, channels = input_shape
    out_height, out_width = conv_output_shape_unchecked((height, width), filter_size, padding, stride)
    expected = (filter_size * filter_size * channels, batch * out_height * out_width)
    if cols.shape != expected:
        raise ValueError(f"`cols` must have shape {expected} (filter_size * filter_size * channels, "
                         f"batch * out_height * out_width), got {cols.shape}")
    return col2im_unchecked(cols, input_shape, filter_size, padding, stride, workspace)


def max_pool(X, pool_size, stride):
    """Window maxima of `X` and the position of each window's first maximum.

    Windows may overlap (stride < pool_size); windows that do not fit at the bottom or right edge are dropped.

    Parameters
    ----------
    X : ndarray of shape (batch, height, width, channels), float32 or float64
    pool_size : int >= 1, at most height and width
    stride : int >= 1

    Returns
    -------
    out : ndarray of shape (batch, out_height, out_width, channels), dtype of X
        The maxima; `out_height = (height - pool_size) // stride + 1`, and likewise for the width.
    argmax : unsigned int ndarray shaped like `out`
        Row-major offset `row * pool_size + col` of the first maximum inside each window.
    """
    return max_pool_unchecked(*_check_pool_input(X, pool_size, stride))


def max_pool_backward(d_out, argmax, input_shape, pool_size, stride):
    """Gradient of `max_pool` with respect to its input: each window's gradient goes to its first maximum.

    Parameters
    ----------
    d_out : ndarray of shape (batch, out_height, out_width, channels), float32 or float64
    argmax : unsigned int ndarray of shape (batch, out_height, out_width, channels)
        As `max_pool` returned it; its values are trusted to lie in [0, pool_size**2).
    input_shape : (batch, height, width, channels)
        The shape of the `X` given to `max_pool`.
    pool_size, stride : int
        As given to `max_pool`.

    Returns
    -------
    ndarray of shape `input_shape`, dtype of `d_out`
    """
    d_out = check_images(d_out, "d_out")
    if not isinstance(argmax, np.ndarray) or argmax.dtype.kind != "u":
        got = argmax.dtype if isinstance(argmax, np.ndarray) else type(argmax).__name__
        raise TypeError(f"`argmax` must be the unsigned integer array that max_pool returns, got {got}")
    if argmax.shape != d_out.shape:
        raise ValueError(f"`argmax` must have the shape of `d_out` {d_out.shape}, got {argmax.shape}")
    input_shape, pool_size, stride = _check_pool_backward(d_out, input_shape, pool_size, stride, "max_pool")
    return max_pool_backward_unchecked(d_out, argmax, input_shape, pool_size, stride)


def avg_pool(X, pool_size, stride):
    """Window means of `X`, per channel, over the windows of `max_pool` (same arguments, same checks).

    Returns
    -------
    ndarray of shape (batch, out_height, out_width, channels), dtype of X
        Shaped like `max_pool`'s `out`.
    """
    return avg_pool_unchecked(*_check_pool_input(X, pool_size, stride))


def avg_pool_backward(d_out, input_shape, pool_size, stride):
    """Gradient of `avg_pool` with respect to its input: each window's gradient shared equally by its pixels.

    `d_out`, `input_shape`, `pool_size` and `stride` as for `max_pool_backward`, with `avg_pool` in place of
    `max_pool`. Returns an ndarray of shape `input_shape`, dtype of `d_out`: a pixel in several windows
    (stride < pool_size) gets the sum of their shares; one in none gets 0.
    """
    d_out = check_images(d_out, "d_out")
    input_shape, pool_size, stride = _check_pool_backward(d_out, input_shape, pool_size, stride, "avg_pool")
    return avg_pool_backward_unchecked(d_out, input_shape, pool_size, stride)


def conv_output_shape_unchecked(input_shape, filter_size, padding, stride):
    """`conv_output_shape` without the argument checks."""
    height, width = input_shape
    if filter_size > height + 2 * padding or filter_size > width + 2 * padding:
        raise ValueError(f"`filter_size` {filter_size} is larger than the padded input "
                         f"({height + 2 * padding}x{width + 2 * padding} height x width, padding {padding})")
    return (height + 2 * padding - filter_size) // stride + 1, (width + 2 * padding - filter_size) // stride + 1


def pool_output_shape(input_shape, pool_size, stride):
    """(out_height, out_width) of a max or average pooling over an input of (height, width), the ints trusted;
    ValueError when the window is larger than the input."""
    height, width = input_shape
    if pool_size > height or pool_size > width:
        raise ValueError(f"`pool_size` {pool_size} is larger than the input ({height}x{width} height x width)")
    return (height - pool_size) // stride + 1, (width - pool_size) // stride + 1


def im2col_unchecked(X, filter_size, padding, stride, workspace=None):
    """`im2col` without the argument checks."""
    patches = _Patches(X.shape, X.dtype, filter_size, padding, stride, workspace)
    threads.map_rows(lambda images: patches.fill(X, images), X.shape[0], patches.image_size)
    return patches.cols(slice(None))


def col2im_unchecked(cols, input_shape, filter_size, padding, stride, workspace=None):
    """`col2im` without the argument checks."""
    d_X = np.empty(input_shape, dtype=cols.dtype)
    adjoint = _PatchAdjoint(input_shape, cols.dtype, filter_size, padding, stride, workspace)
    threads.map_rows(lambda images: adjoint.add(cols, d_X, images), input_shape[0], adjoint.image_size)
    return d_X


def im2col_conv_forward(X, W, B, padding, stride, workspace):
    """Convolution through im2col: `Y` of shape (batch, out_height, out_width, out_channels) and the patches
    `cols` of shape (k * k * in_channels, batch * out_height * out_width) that `im2col_conv_backward` takes.

    X : (batch, height, width, in_channels), W : (k, k, in_channels, out_channels), B : (out_channels,), all of one
    dtype. Each chunk of images is copied into patches and multiplied while those are in cache.
    """
    k, _, in_channels, out_channels = W.shape
    patches = _Patches(X.shape, X.dtype, k, padding, stride, workspace)
    Y = np.empty((X.shape[0], patches.out_height, patches.out_width, out_channels), dtype=W.dtype)
    weights = W.reshape(k * k * in_channels, out_channels)
    # The bias added along whole output rows (out_w * F numbers) rather than F at a time: ~3x faster.
    bias_row = np.tile(B, patches.out_width)

    def forward_images(images):
        out = np.matmul(patches.fill(X, images).T, weights, out=Y[images].reshape(-1, out_channels))
        rows = out.reshape(-1, patches.out_width * out_channels)
        rows += bias_row

    products = patches.image_size * out_channels * threads.ELEMENTS_PER_MULTIPLY_ADD
    threads.map_rows(forward_images, X.shape[0], int(patches.image_size + products))
    return Y, patches.cols(slice(None))


def im2col_conv_backward(d_out, cols, W, input_shape, padding, stride, workspace, compute_input_grad=True):
    """Gradients of `im2col_conv_forward`: d_X (None when not `compute_input_grad`), d_W shaped like W, d_B
    (out_channels,).

    d_out : (batch, out_height, out_width, out_channels) and `cols` as `im2col_conv_forward` returned it, both in W's
    dtype. The chunks' d_W and d_B are added in chunk order.
    """
    k, _, in_channels, out_channels = W.shape
    d_out = d_out.reshape(-1, out_channels)  # (batch * out_h * out_w, F)
    weights = W.reshape(k * k * in_channels, out_channels)
    pixels = d_out.shape[0] // input_shape[0]  # out_h * out_w
    d_X = d_patches = adjoint = None
    if compute_input_grad:
        d_X = np.empty(input_shape, dtype=W.dtype)
        d_patches = workspace_buffer(workspace, "d_patches", (d_out.shape[0], k * k * in_channels), W.dtype)
        adjoint = _PatchAdjoint(input_shape, W.dtype, k, padding, stride, workspace)

    def backward_images(images):
        columns = slice(images.start * pixels, images.stop * pixels)
        d_W = cols[:, columns] @ d_out[columns]
        d_B = np.ones(columns.stop - columns.start, dtype=W.dtype) @ d_out[columns]  # BLAS beats .sum(axis=0)
        if compute_input_grad:
            np.matmul(d_out[columns], weights.T, out=d_patches[columns])  # (images * out_h * out_w, k * k * C)
            adjoint.add(d_patches.T, d_X, images)
        return d_W, d_B

    products = (2 + compute_input_grad) * pixels * cols.shape[0] * out_channels * threads.ELEMENTS_PER_MULTIPLY_ADD
    parts = threads.map_rows(backward_images, input_shape[0], int(pixels * cols.shape[0] + products))
    d_W = threads.sum_in_order([d_W for d_W, _ in parts]).reshape(W.shape)
    return d_X, d_W, threads.sum_in_order([d_B for _, d_B in parts])


class _PatchLayout:
    """What im2col and col2im share for one input shape (batch, height, width, channels): the filter, the output
    size, and the layout: below `CHANNELS_LAST_FROM` channels the padded input is CNHW and the patches
    (k, k, C, batch, out_h, out_w); from it on, NHWC and (batch, out_h, out_w, k, k, C)."""

    def __init__(self, input_shape, filter_size, padding, stride):
        batch, height, width, channels = input_shape
        self.k, self.padding, self.stride, self.channels = filter_size, padding, stride, channels
        self.out_height, self.out_width = conv_output_shape_unchecked((height, width), filter_size, padding, stride)
        self.channels_last = channels >= CHANNELS_LAST_FROM
        self.image_size = self.out_height * self.out_width * filter_size * filter_size * channels  # patch elements
        nhwc = (batch, height + 2 * padding, width + 2 * padding, channels)
        self.padded_shape = nhwc if self.channels_last else (channels, *nhwc[:3])


class _Patches(_PatchLayout):
    """The im2col buffers for one input shape, kept in `workspace`: the zero-padded input and the patches.

    `fill` writes the patches of a slice of the batch; the slices of a batch can be filled at once, from different
    threads.
    """

    def __init__(self, input_shape, dtype, filter_size, padding, stride, workspace):
        super().__init__(input_shape, filter_size, padding, stride)
        k, batch, out_height, out_width = filter_size, input_shape[0], self.out_height, self.out_width
        if self.channels_last:
            self.padded = workspace_buffer(workspace, "padded_nhwc", self.padded_shape, dtype, zeros=True)
            shape = (batch, out_height, out_width, k, k, self.channels)
            self.patches = workspace_buffer(workspace, "patches_nhwc", shape, dtype)
        else:
            self.padded = workspace_buffer(workspace, "padded_cnhw", self.padded_shape, dtype, zeros=True)
            shape = (k, k, self.channels, batch, out_height, out_width)
            self.patches = workspace_buffer(workspace, "patches_cnhw", shape, dtype)

    def fill(self, X, images):
        """Write the patches of `X[images]` (X the whole batch); return their columns, as `cols` does."""
        k, p = self.k, self.padding
        height, width = X.shape[1:3]
        # Only the inside of the padded buffer is ever written, so its border stays zero.
        if self.channels_last:
            padded = self.padded[images]
            padded[:, p:p + height, p:p + width] = X[images]
            patches = self.patches[images]
            for i, j in np.ndindex(k, k):
                patches[:, :, :, i, j] = _patch_offset(padded, i, j, 1, self.stride, self.out_height, self.out_width)
        else:
            padded = self.padded[:, images]
            padded[:, :, p:p + height, p:p + width] = X[images].transpose(3, 0, 1, 2)
            patches = self.patches[:, :, :, images]
            for i, j in np.ndindex(k, k):
                patches[i, j] = _patch_offset(padded, i, j, 2, self.stride, self.out_height, self.out_width)
        return self.cols(images)

    def cols(self, images):
        """The patches of `images` as columns: (k * k * C, images * out_h * out_w), a view."""
        rows = self.k * self.k * self.channels
        if self.channels_last:
            return self.patches[images].reshape(-1, rows).T
        return self.patches[:, :, :, images].reshape(rows, -1)


class _PatchAdjoint(_PatchLayout):
    """`col2im` for one input shape, a slice of the batch at a time: the slices can run at once, from different
    threads. The zero-padded gradient buffer is kept in `workspace`."""

    def __init__(self, input_shape, dtype, filter_size, padding, stride, workspace):
        super().__init__(input_shape, filter_size, padding, stride)
        name = "d_padded_nhwc" if self.channels_last else "d_padded_cnhw"
        self.padded = workspace_buffer(workspace, name, self.padded_shape, dtype)

    def add(self, cols, d_X, images):
        """Write into `d_X[images]` the sum of the columns of `cols` (k * k * C, batch * out_h * out_w) that belong
        to those images, each added back onto the pixels of its patch."""
        k, p, s = self.k, self.padding, self.stride
        n_images, height, width = images.stop - images.start, d_X.shape[1], d_X.shape[2]
        pixels = self.out_height * self.out_width
        columns = slice(images.start * pixels, (images.start + n_images) * pixels)
        if self.channels_last:
            patches = np.ascontiguousarray(cols[:, columns].T)  # (images * out_h * out_w, k * k * C)
            patches = patches.reshape(n_images, self.out_height, self.out_width, k, k, self.channels)
            padded = self.padded[images]
            padded.fill(0)
            for i, j in np.ndindex(k, k):
                _patch_offset(padded, i, j, 1, s, self.out_height, self.out_width)[...] += patches[:, :, :, i, j]
            d_X[images] = padded[:, p:p + height, p:p + width]
            return
        patches = np.ascontiguousarray(cols[:, columns])  # (k * k * C, images * out_h * out_w)
        patches = patches.reshape(k, k, self.channels, n_images, self.out_height, self.out_width)
        padded = self.padded[:, images]
        padded.fill(0)
        for i, j in np.ndindex(k, k):
            _patch_offset(padded, i, j, 2, s, self.out_height, self.out_width)[...] += patches[i, j]
        d_X[images] = padded[:, :, p:p + height, p:p + width].transpose(1, 2, 3, 0)  # CNHW -> NHWC


def max_pool_unchecked(X, pool_size, stride):
    """`max_pool` without the argument checks."""
    p, s = pool_size, stride
    out_shape = (X.shape[0], (X.shape[1] - p) // s + 1, (X.shape[2] - p) // s + 1, X.shape[3])
    out = np.empty(out_shape, dtype=X.dtype)
    argmax = np.empty(out_shape, dtype=np.min_scalar_type(p * p - 1))
    threads.map_rows(lambda images: _max_pool_into(X[images], p, s, out[images], argmax[images]), X.shape[0],
                     X[0].size)
    return out, argmax


def _max_pool_into(X, pool_size, stride, out, argmax):
    """Window maxima of `X` (batch, height, width, channels) and their offsets, written into `out` and `argmax`."""
    p, s = pool_size, stride
    out_height, out_width = out.shape[1:3]
    index_dtype = argmax.dtype
    # Two stages of running maxima over strided views, each step a few whole-array operations: first over the
    # window's columns for every input row, then over its rows. A later offset replaces the running maximum only
    # when strictly greater, so ties keep the first offset; offsets only grow, so np.maximum tracks the argmax.
    X = X[:, :s * (out_height - 1) + p]
    row_max = _window_offset(X, 0, 2, s, out_width).copy()
    row_argmax = np.zeros(row_max.shape, dtype=index_dtype)
    for col in range(1, p):
        candidate = _window_offset(X, col, 2, s, out_width)
        np.maximum(row_argmax, np.multiply(candidate > row_max, col, dtype=index_dtype), out=row_argmax)
        np.maximum(row_max, candidate, out=row_max)

    out[...] = _window_offset(row_max, 0, 1, s, out_height)
    argmax[...] = _window_offset(row_argmax, 0, 1, s, out_height)
    for row in range(1, p):
        candidate = _window_offset(row_max, row, 1, s, out_height)
        offset = _window_offset(row_argmax, row, 1, s, out_height) + index_dtype.type(row * p)
        np.maximum(argmax, np.multiply(candidate > out, offset, dtype=index_dtype), out=argmax)
        np.maximum(out, candidate, out=out)


def max_pool_backward_unchecked(d_out, argmax, input_shape, pool_size, stride):
    """`max_pool_backward` without the argument checks."""
    d_input = np.zeros(input_shape, dtype=d_out.dtype)
    threads.map_rows(lambda images: _max_pool_backward_into(d_out[images], argmax[images], d_input[images],
                                                            pool_size, stride), input_shape[0], d_out[0].size)
    return d_input


def _max_pool_backward_into(d_out, argmax, d_input, pool_size, stride):
    """Add each window's gradient `d_out` to its first maximum in `d_input`, zeros of the input's shape."""
    p, s = pool_size, stride
    out_height, out_width = d_out.shape[1:3]
    if s >= p:
        # Disjoint windows: every maximum has its own input element, written straight to its flat position.
        d_input.reshape(-1)[_argmax_positions(argmax, d_input.shape, p, s)] = d_out.reshape(-1)
        return
    for offset in range(p * p):
        row, col = divmod(offset, p)
        rows = _window_offset(d_input, row, 1, s, out_height)
        rows_cols = _window_offset(rows, col, 2, s, out_width)
        rows_cols += (argmax == offset) * d_out  # += : overlapping windows may share a maximum


def avg_pool_unchecked(X, pool_size, stride):
    """`avg_pool` without the argument checks."""
    p, s = pool_size, stride
    out = np.empty((X.shape[0], (X.shape[1] - p) // s + 1, (X.shape[2] - p) // s + 1, X.shape[3]), dtype=X.dtype)
    threads.map_rows(lambda images: _avg_pool_into(X[images], p, s, out[images]), X.shape[0], X[0].size)
    return out


def _avg_pool_into(X, pool_size, stride, out):
    """Window means of `X` (batch, height, width, channels), written into `out`."""
    p, s = pool_size, stride
    out_height, out_width = out.shape[1:3]
    # Separable window sums over strided views, 2 * pool_size whole-array additions: first over the window's
    # columns for every input row, then over its rows.
    X = X[:, :s * (out_height - 1) + p]
    row_sums = _window_offset(X, 0, 2, s, out_width).copy()
    for col in range(1, p):
        row_sums += _window_offset(X, col, 2, s, out_width)
    out[...] = _window_offset(row_sums, 0, 1, s, out_height)
    for row in range(1, p):
        out += _window_offset(row_sums, row, 1, s, out_height)
    out /= p * p


def avg_pool_backward_unchecked(d_out, input_shape, pool_size, stride):
    """`avg_pool_backward` without the argument checks."""
    d_input = np.zeros(input_shape, dtype=d_out.dtype)
    threads.map_rows(lambda images: _avg_pool_backward_into(d_out[images], d_input[images], pool_size, stride),
                     input_shape[0], d_input[0].size)
    return d_input


def _avg_pool_backward_into(d_out, d_input, pool_size, stride):
    """Add each window's gradient `d_out`, shared equally by its pixels, into `d_input` (zeros of the input's
    shape)."""
    p, s = pool_size, stride
    batch, height, width, channels = d_input.shape
    out_height, out_width = d_out.shape[1:3]
    share = d_out / (p * p)
    # The forward's two stages transposed: spread each window's share over its rows, then over its columns. Within
    # one offset the strided view hits distinct pixels; += across offsets sums where windows overlap.
    d_rows = np.zeros((batch, height, out_width, channels), dtype=d_out.dtype)
    for row in range(p):
        _window_offset(d_rows, row, 1, s, out_height)[...] += share
    for col in range(p):
        _window_offset(d_input, col, 2, s, out_width)[...] += d_rows


def relu(X):
    """`max(X, 0)` and the mask `X > 0`, shaped like X (any shape)."""
    positive = _by_rows(lambda out, X: np.greater(X, 0, out=out), np.empty(X.shape, dtype=bool), X)
    return _by_rows(lambda out, X: np.maximum(X, 0, out=out), np.empty_like(X), X), positive


def relu_backward(d_out, positive):
    """`d_out * positive`, the gradient of `relu` given its mask."""
    return _by_rows(lambda out, d_out, positive: np.multiply(d_out, positive, out=out), np.empty_like(d_out),
                    d_out, positive)


def tanh(X):
    """`tanh(X)`, shaped like X (any shape)."""
    return _by_rows(lambda out, X: np.tanh(X, out=out), np.empty_like(X), X)


def tanh_backward(d_out, out):
    """`d_out * (1 - out**2)`, the gradient of `tanh` given its output `out` (tanh' = 1 - tanh^2)."""
    return _by_rows(lambda d_X, d_out, out: np.multiply(d_out, 1 - out * out, out=d_X),
                    np.empty(d_out.shape, dtype=np.result_type(d_out, out)), d_out, out)


def _by_rows(function, out, *inputs):
    """Call `function(out[rows], *(array[rows] for array in inputs))` for chunks of the first axis run at once;
    return `out`. The arrays have one shape; a 0-d one is one chunk."""
    if out.ndim == 0:
        function(out, *inputs)
        return out
    threads.map_rows(lambda rows: function(out[rows], *(array[rows] for array in inputs)), len(out), out[0].size)
    return out


def affine_forward(X, W, B):
    """`X @ W + B`: X of shape (batch, n_input), W (n_input, n_output), B (1, n_output), one dtype."""
    out = np.empty((X.shape[0], W.shape[1]), dtype=W.dtype)

    def forward_rows(rows):
        np.matmul(X[rows], W, out=out[rows])
        out[rows] += B

    threads.map_rows(forward_rows, X.shape[0], int(sum(W.shape) + W.size * threads.ELEMENTS_PER_MULTIPLY_ADD))
    return out


def affine_backward(X, W, d_out):
    """Gradients of `affine_forward` with respect to X, W and B (shapes of X, W, (1, n_output)), from d_out of
    shape (batch, n_output); the chunks' d_W and d_B are added in chunk order."""
    d_X = np.empty(X.shape, dtype=W.dtype)

    def backward_rows(rows):
        np.matmul(d_out[rows], W.T, out=d_X[rows])
        return X[rows].T @ d_out[rows], d_out[rows].sum(axis=0, keepdims=True)

    row_work = int(sum(W.shape) + 2 * W.size * threads.ELEMENTS_PER_MULTIPLY_ADD)
    parts = threads.map_rows(backward_rows, X.shape[0], row_work)
    return d_X, threads.sum_in_order([d_W for d_W, _ in parts]), threads.sum_in_order([d_B for _, d_B in parts])


def _patch_offset(padded, i, j, row_axis, stride, out_height, out_width):
    """View of `padded` at filter offset (i, j) for every output pixel: rows on `row_axis`, columns after it."""
    rows = _window_offset(padded, i, row_axis, stride, out_height)
    return _window_offset(rows, j, row_axis + 1, stride, out_width)


def _argmax_positions(argmax, input_shape, pool_size, stride):
    """Flat index into an array of `input_shape` of each window's maximum, shape (batch * out_h * out_w * C,)."""
    corners, offsets = _window_corners(input_shape, argmax.shape, pool_size, stride)
    return (corners + offsets[argmax]).reshape(-1)


@functools.lru_cache(maxsize=16)
def _window_corners(input_shape, output_shape, pool_size, stride):
    """Flat index of each window's top-left element, shaped like the output, and of each in-window offset."""
    batch, height, width, channels = input_shape
    out_height, out_width = output_shape[1:3]
    row_step, col_step = width * channels, channels
    corners = (np.arange(batch)[:, None, None, None] * (height * row_step)
               + np.arange(out_height)[:, None, None] * (stride * row_step)
               + np.arange(out_width)[:, None] * (stride * col_step) + np.arange(channels))
    window_row, window_col = np.divmod(np.arange(pool_size * pool_size), pool_size)
    offsets = window_row * row_step + window_col * col_step
    corners.flags.writeable = offsets.flags.writeable = False  # shared by every call with these shapes
    return corners, offsets


def _window_offset(X, offset, axis, stride, count):
    """View of `X` along `axis` at `offset + stride * i` for i in range(count)."""
    index = [slice(None)] * X.ndim
    index[axis] = slice(offset, offset + stride * (count - 1) + 1, stride)
    return X[tuple(index)]


def workspace_buffer(workspace, name, shape, dtype, zeros=False):
    """`workspace[name]` when it has this shape and dtype, else a new array (of zeros if asked, else uninitialised),
    stored there unless `workspace` is None."""
    array = None if workspace is None else workspace.get(name)
    if array is None or array.shape != shape or array.dtype != dtype:
        array = np.zeros(shape, dtype) if zeros else np.empty(shape, dtype)
        if workspace is not None:
            workspace[name] = array
    return array


def check_shape(shape, name, axes, minimum=1):
    """Return `shape` (a tuple or list) as a tuple of ints >= `minimum`, one per name in `axes` (any number when
    `axes` is None)."""
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"`{name}` must be a tuple of ints, got {type(shape).__name__}")
    shape = tuple(shape)
    if axes is not None and len(shape) != len(axes):
        raise ValueError(f"`{name}` must have {len(axes)} entries ({', '.join(axes)}), got {shape}")
    if any(isinstance(size, bool) or not isinstance(size, numbers.Integral) for size in shape):
        raise TypeError(f"`{name}` must hold integers, got {shape}")
    if any(size < minimum for size in shape):
        raise ValueError(f"`{name}` must hold sizes >= {minimum}, got {shape}")
    return tuple(int(size) for size in shape)


def _check_window(filter_size, padding, stride):
    """The filter size, padding and stride of a convolution as ints (>= 1, >= 0, >= 1)."""
    return check_int(filter_size, "filter_size", 1), check_int(padding, "padding", 0), check_int(stride, "stride", 1)


def _check_pool(pool_size, stride):
    """The window size and stride of a pooling as ints >= 1."""
    return check_int(pool_size, "pool_size", 1), check_int(stride, "stride", 1)


def _check_pool_input(X, pool_size, stride):
    """The images `X`, window size and stride of a pooling checked, the window no larger than the images."""
    X = check_images(X, "X")
    pool_size, stride = _check_pool(pool_size, stride)
    pool_output_shape(X.shape[1:3], pool_size, stride)
    return X, pool_size, stride


def _check_pool_backward(d_out, input_shape, pool_size, stride, forward_name):
    """The `input_shape`, window size and stride of a pooling's backward pass checked, `d_out` (already checked
    images) shaped like the output of `forward_name` for them."""
    input_shape = check_shape(input_shape, "input_shape", ("batch", "height", "width", "channels"), minimum=0)
    pool_size, stride = _check_pool(pool_size, stride)
    batch, height, width, channels = input_shape
    expected = (batch, *pool_output_shape((height, width), pool_size, stride), channels)
    if d_out.shape != expected:
        raise ValueError(f"`d_out` must have shape {expected}, the output of {forward_name} for `input_shape` "
                         f"{input_shape}, pool_size {pool_size} and stride {stride}; got {d_out.shape}")
    return input_shape, pool_size, stride


def _check_workspace(workspace):
    if workspace is not None and not isinstance(workspace, dict):
        raise TypeError(f"`workspace` must be None or a dict, got {type(workspace).__name__}")
