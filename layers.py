"""The layers of the network, numpy only.

Images are NHWC: (batch, height, width, channels). Every layer has `forward(X)`, which keeps what the backward pass
needs, `backward(d_out)`, which returns the gradient with respect to the input and *adds* into each `Param.grad`,
and `params()`, a dict of its `Param`s.

Layers with parameters compute in the dtype of their parameters (float64 unless `dtype=` says otherwise); a float
input of the other precision is converted to it. Parameter-free layers keep the dtype of their input.
"""
import functools

import numpy as np

from validation import check_dtype, check_float_array, check_images, check_int, check_labels, check_number, check_rng


# im2col lays the patches out channels first below this many input channels, so that its copies run along image
# rows (3 channels last would give runs of 3 numbers), and channels last from it on, where runs of channels are long.
CHANNELS_LAST_FROM = 8


class Param:
    """A trainable parameter: its `value` and the gradient `grad` that backward passes add into.

    Parameters
    ----------
    value : ndarray
        The initial value; `grad` starts as zeros of the same shape and dtype.
    """

    def __init__(self, value):
        self.value = value
        self.grad = np.zeros_like(value)

    def zero_grad(self):
        """Reset `grad` to zeros shaped like `value` (which may have been replaced since)."""
        if self.grad.shape == self.value.shape and self.grad.dtype == self.value.dtype:
            self.grad.fill(0)
        else:
            self.grad = np.zeros_like(self.value)

    def __repr__(self):
        return f"Param(shape={self.value.shape}, dtype={self.value.dtype})"


def l2_regularization(W, reg_strength):
    """L2 penalty `reg_strength * sum(W**2)` and its gradient.

    Parameters
    ----------
    W : ndarray of any shape
    reg_strength : float >= 0

    Returns
    -------
    loss : float
    grad : ndarray shaped like W, `2 * reg_strength * W`
    """
    W = check_float_array(W, "W")
    reg_strength = check_number(reg_strength, "reg_strength", minimum=0)
    loss = reg_strength * float(np.sum(W * W))
    return loss, (2 * reg_strength) * W


def softmax(predictions):
    """Softmax over the last axis, stable for large logits.

    predictions : ndarray of shape (n_classes,) or (batch, n_classes)
    Returns probabilities of the same shape.
    """
    predictions = check_float_array(predictions, "predictions")
    shifted = predictions - predictions.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def softmax_with_cross_entropy(predictions, target_index):
    """Mean cross-entropy loss of the softmax of `predictions` and its gradient.

    Parameters
    ----------
    predictions : ndarray of shape (n_classes,) or (batch, n_classes)
        Unnormalised scores (logits).
    target_index : int or int array of shape (1,), (batch,) or (batch, 1)
        The true class of each sample, in [0, n_classes).

    Returns
    -------
    loss : float
        Cross-entropy averaged over the batch.
    d_predictions : ndarray shaped like `predictions`
        Gradient of `loss` with respect to `predictions`.
    """
    predictions = check_float_array(predictions, "predictions")
    if predictions.ndim not in (1, 2) or predictions.size == 0:
        raise ValueError("`predictions` must have shape (n_classes,) or (batch, n_classes) with at least one "
                         f"sample and one class, got {predictions.shape}")
    logits = predictions.reshape(-1, predictions.shape[-1])
    batch, n_classes = logits.shape
    target = check_labels(target_index, "target_index", n_classes, length=batch)
    rows = np.arange(batch)

    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1)
    loss = np.mean(np.log(sum_exp) - shifted[rows, target])

    d_logits = exp / sum_exp[:, None]
    d_logits[rows, target] -= 1
    d_logits /= batch
    return float(loss), d_logits.reshape(predictions.shape)


class ReLULayer:
    """Elementwise max(X, 0).

    Input shape: any. Output shape: the same.
    """

    def __init__(self):
        self._positive = None

    def forward(self, X):
        X = check_float_array(X, "X")
        self._positive = X > 0
        return np.maximum(X, 0)

    def backward(self, d_out):
        d_out = _check_d_out(d_out, self._positive, "ReLULayer")
        return d_out * self._positive

    def params(self):
        return {}


class FullyConnectedLayer:
    """Affine layer `X @ W + B`.

    Parameters
    ----------
    n_input, n_output : int
        Input and output widths.
    dtype : float32 or float64, keyword-only
        Dtype of the parameters and of the computation.
    seed : None, int or numpy.random.Generator, keyword-only
        Source of the initial weights.
    gain : float, keyword-only
        Weights are drawn from N(0, gain / n_input): 2 (He) suits a layer followed by ReLU, 1 (LeCun) an output
        layer.

    Input shape: (batch, n_input). Output shape: (batch, n_output).
    W : (n_input, n_output), B : (1, n_output).
    """

    def __init__(self, n_input, n_output, *, dtype=np.float64, seed=None, gain=2.0):
        n_input = check_int(n_input, "n_input", 1)
        n_output = check_int(n_output, "n_output", 1)
        dtype = check_dtype(dtype)
        gain = check_number(gain, "gain", minimum=0, strict_minimum=True)
        W = check_rng(seed).standard_normal((n_input, n_output)) * np.sqrt(gain / n_input)
        self.W = Param(W.astype(dtype))
        self.B = Param(np.zeros((1, n_output), dtype=dtype))
        self._X = None

    def forward(self, X):
        X = check_float_array(X, "X", ndim=2)
        n_input, n_output = _check_param(self.W, "W", 2).shape
        _check_param(self.B, "B", 2, (1, n_output))
        if X.shape[1] != n_input:
            raise ValueError(f"`X` must have shape (batch, {n_input}), got {X.shape}")
        self._X = X.astype(self.W.value.dtype, copy=False)
        return self._X @ self.W.value + self.B.value

    def backward(self, d_out):
        d_out = _check_d_out(d_out, self._X, "FullyConnectedLayer", (self._X.shape[0], self.W.value.shape[1])
                             if self._X is not None else None)
        d_out = d_out.astype(self.W.value.dtype, copy=False)
        self.W.grad += self._X.T @ d_out
        self.B.grad += d_out.sum(axis=0, keepdims=True)
        return d_out @ self.W.value.T

    def params(self):
        return {"W": self.W, "B": self.B}


class ConvolutionalLayer:
    """2-D convolution (cross-correlation, as in every framework) with zero padding.

    Parameters
    ----------
    in_channels, out_channels : int
    filter_size : int
        Height and width of the square filters.
    padding : int
        Zeros added on each side of the height and width.
    stride : int, keyword-only
        Step of the filter in both directions.
    dtype : float32 or float64, keyword-only
    seed : None, int or numpy.random.Generator, keyword-only
        Source of the initial weights, He-scaled: N(0, 2 / (filter_size**2 * in_channels)).
    compute_input_grad : bool, keyword-only
        When False, `backward` fills the parameter gradients and returns None: the first layer of a network does not
        need the gradient with respect to the images.

    Input shape: (batch, height, width, in_channels).
    Output shape: (batch, out_height, out_width, out_channels), with
    `out_height = (height + 2 * padding - filter_size) // stride + 1` and likewise for the width.
    W : (filter_size, filter_size, in_channels, out_channels), B : (out_channels,).
    """

    def __init__(self, in_channels, out_channels, filter_size, padding=0, *, stride=1, dtype=np.float64,
                 seed=None, compute_input_grad=True):
        self.in_channels = check_int(in_channels, "in_channels", 1)
        self.out_channels = check_int(out_channels, "out_channels", 1)
        self.filter_size = check_int(filter_size, "filter_size", 1)
        self.padding = check_int(padding, "padding", 0)
        self.stride = check_int(stride, "stride", 1)
        self.compute_input_grad = bool(compute_input_grad)
        dtype = check_dtype(dtype)
        shape = (filter_size, filter_size, in_channels, out_channels)
        fan_in = filter_size * filter_size * in_channels
        W = check_rng(seed).standard_normal(shape) * np.sqrt(2.0 / fan_in)
        self.W = Param(W.astype(dtype))
        self.B = Param(np.zeros(out_channels, dtype=dtype))
        self._cols = None
        self._input_shape = None
        self._workspace = {}

    def forward(self, X):
        X = check_images(X, "X", self.in_channels)
        k, C, F = self.filter_size, self.in_channels, self.out_channels
        _check_param(self.W, "W", 4, (k, k, C, F))
        _check_param(self.B, "B", 1, (F,))
        out_height, out_width = conv_output_shape(X.shape[1:3], k, self.padding, self.stride)
        X = X.astype(self.W.value.dtype, copy=False)

        self._cols = im2col(X, k, self.padding, self.stride, self._workspace)
        self._input_shape = X.shape
        out = self._cols.T @ self.W.value.reshape(k * k * C, F)  # (batch * out_h * out_w, F)
        # The bias added along whole output rows (out_w * F numbers) rather than F at a time: ~3x faster.
        rows = out.reshape(-1, out_width * F)
        rows += np.tile(self.B.value, out_width)
        return out.reshape(X.shape[0], out_height, out_width, F)

    def backward(self, d_out):
        expected = None
        if self._input_shape is not None:
            out_shape = conv_output_shape(self._input_shape[1:3], self.filter_size, self.padding, self.stride)
            expected = (self._input_shape[0], *out_shape, self.out_channels)
        d_out = _check_d_out(d_out, self._cols, "ConvolutionalLayer", expected)
        k, C, F = self.filter_size, self.in_channels, self.out_channels
        d_out = d_out.astype(self.W.value.dtype, copy=False).reshape(-1, F)  # (batch * out_h * out_w, F)

        self.W.grad += (self._cols @ d_out).reshape(k, k, C, F)
        self.B.grad += np.ones(d_out.shape[0], dtype=d_out.dtype) @ d_out  # a column sum; BLAS beats .sum(axis=0)
        if not self.compute_input_grad:
            return None
        d_patches = _buffer(self._workspace, "d_patches", (d_out.shape[0], k * k * C), d_out.dtype)
        np.matmul(d_out, self.W.value.reshape(k * k * C, F).T, out=d_patches)  # (batch * out_h * out_w, k * k * C)
        return col2im(d_patches.T, self._input_shape, k, self.padding, self.stride, self._workspace)

    def params(self):
        return {"W": self.W, "B": self.B}


class MaxPoolingLayer:
    """Max over `pool_size x pool_size` windows moved by `stride`, per channel.

    Windows may overlap (stride < pool_size); windows that do not fit at the bottom or right edge are dropped.
    The backward pass gives each window's gradient to one element: its first maximum in row-major order.
    The forward pass keeps a reference to its input's window positions, not a copy of the input.

    Input shape: (batch, height, width, channels).
    Output shape: (batch, (height - pool_size) // stride + 1, (width - pool_size) // stride + 1, channels).
    """

    def __init__(self, pool_size, stride):
        self.pool_size = check_int(pool_size, "pool_size", 1)
        self.stride = check_int(stride, "stride", 1)
        self._argmax = None
        self._input_shape = None

    def forward(self, X):
        X = check_images(X, "X")
        height, width = X.shape[1:3]
        if self.pool_size > height or self.pool_size > width:
            raise ValueError(f"`pool_size` {self.pool_size} is larger than the input "
                             f"({height}x{width} height x width)")
        out, self._argmax = max_pool(X, self.pool_size, self.stride)
        self._input_shape = X.shape
        return out

    def backward(self, d_out):
        d_out = _check_d_out(d_out, self._argmax, "MaxPoolingLayer")
        return max_pool_backward(d_out, self._argmax, self._input_shape, self.pool_size, self.stride)

    def params(self):
        return {}


class Flattener:
    """Reshapes (batch, height, width, channels) to (batch, height * width * channels) and back."""

    def __init__(self):
        self._input_shape = None

    def forward(self, X):
        X = check_images(X, "X")
        self._input_shape = X.shape
        return X.reshape(X.shape[0], -1)

    def backward(self, d_out):
        expected = None
        if self._input_shape is not None:
            expected = (self._input_shape[0], int(np.prod(self._input_shape[1:])))
        d_out = _check_d_out(d_out, self._input_shape, "Flattener", expected)
        return d_out.reshape(self._input_shape)

    def params(self):
        return {}


def conv_output_shape(input_shape, filter_size, padding, stride):
    """(out_height, out_width) = (size + 2 * padding - filter_size) // stride + 1 for each of (height, width).

    Raises ValueError when the filter does not fit the padded input.
    """
    height, width = input_shape
    if filter_size > height + 2 * padding or filter_size > width + 2 * padding:
        raise ValueError(f"`filter_size` {filter_size} is larger than the padded input "
                         f"({height + 2 * padding}x{width + 2 * padding} height x width, padding {padding})")
    return (height + 2 * padding - filter_size) // stride + 1, (width + 2 * padding - filter_size) // stride + 1


def im2col(X, filter_size, padding, stride, workspace=None):
    """Every filter-sized patch of the zero-padded `X`, one patch per column.

    Parameters
    ----------
    X : ndarray of shape (batch, height, width, channels)
    workspace : dict, optional
        Buffers kept from an earlier call of the same shapes and reused (the returned `cols` is one of them): large
        arrays are then not handed back to the OS and faulted in again on every call.

    Returns
    -------
    cols : ndarray of shape (filter_size * filter_size * channels, batch * out_height * out_width)
        Rows ordered (i, j, channel) like `W.reshape(-1, out_channels)`; columns ordered (batch, out_y, out_x).
        C-contiguous below `CHANNELS_LAST_FROM` channels, F-contiguous (each patch contiguous) from it on.
    """
    batch, height, width, channels = X.shape
    k = filter_size
    out_height, out_width = conv_output_shape((height, width), k, padding, stride)
    if channels >= CHANNELS_LAST_FROM:
        padded = _padded(X, padding, "nhwc", workspace)
        patches = _buffer(workspace, "patches_nhwc", (batch, out_height, out_width, k, k, channels), X.dtype)
        for i, j in np.ndindex(k, k):
            patches[:, :, :, i, j] = _patch_offset(padded, i, j, 1, stride, out_height, out_width)
        return patches.reshape(-1, k * k * channels).T
    padded = _padded(X, padding, "cnhw", workspace)
    patches = _buffer(workspace, "patches_cnhw", (k, k, channels, batch, out_height, out_width), X.dtype)
    for i, j in np.ndindex(k, k):
        patches[i, j] = _patch_offset(padded, i, j, 2, stride, out_height, out_width)
    return patches.reshape(k * k * channels, -1)


def col2im(cols, input_shape, filter_size, padding, stride, workspace=None):
    """Adjoint of `im2col`: adds every column back onto the pixels of its patch.

    Parameters
    ----------
    cols : ndarray of shape (filter_size * filter_size * channels, batch * out_height * out_width)
        In either memory order; the one `im2col` gives for this many channels avoids a copy.
    input_shape : (batch, height, width, channels), the shape given to `im2col`
    workspace : dict, optional
        Buffers reused between calls, as for `im2col`; the returned array is always a new one.

    Returns
    -------
    ndarray of shape `input_shape`
    """
    batch, height, width, channels = input_shape
    k = filter_size
    out_height, out_width = conv_output_shape((height, width), k, padding, stride)
    inside = slice(padding, padding + height), slice(padding, padding + width)
    if channels >= CHANNELS_LAST_FROM:
        patches = np.ascontiguousarray(cols.T).reshape(batch, out_height, out_width, k, k, channels)
        padded = _zeroed(workspace, "d_padded_nhwc", (batch, height + 2 * padding, width + 2 * padding, channels),
                         cols.dtype)
        for i, j in np.ndindex(k, k):
            window = _patch_offset(padded, i, j, 1, stride, out_height, out_width)
            window += patches[:, :, :, i, j]
        return padded[:, inside[0], inside[1]].copy()
    patches = np.ascontiguousarray(cols).reshape(k, k, channels, batch, out_height, out_width)
    padded = _zeroed(workspace, "d_padded_cnhw", (channels, batch, height + 2 * padding, width + 2 * padding),
                     cols.dtype)
    for i, j in np.ndindex(k, k):
        window = _patch_offset(padded, i, j, 2, stride, out_height, out_width)
        window += patches[i, j]
    return np.ascontiguousarray(padded[:, :, inside[0], inside[1]].transpose(1, 2, 3, 0))  # CNHW -> NHWC


def _padded(X, padding, layout, workspace):
    """`X` (batch, height, width, channels) zero-padded, as "nhwc" or "cnhw" (channels first).

    The buffer is reused between calls: only its inside is ever written, so its border stays zero.
    """
    batch, height, width, channels = X.shape
    padded_height, padded_width = height + 2 * padding, width + 2 * padding
    if layout == "nhwc":
        padded = _buffer(workspace, "padded_nhwc", (batch, padded_height, padded_width, channels), X.dtype, zeros=True)
        padded[:, padding:padding + height, padding:padding + width] = X
    else:
        padded = _buffer(workspace, "padded_cnhw", (channels, batch, padded_height, padded_width), X.dtype, zeros=True)
        padded[:, :, padding:padding + height, padding:padding + width] = X.transpose(3, 0, 1, 2)
    return padded


def _patch_offset(padded, i, j, row_axis, stride, out_height, out_width):
    """View of `padded` at filter offset (i, j) for every output pixel: rows on `row_axis`, columns after it."""
    rows = _window_offset(padded, i, row_axis, stride, out_height)
    return _window_offset(rows, j, row_axis + 1, stride, out_width)


def max_pool(X, pool_size, stride):
    """Window maxima of `X` and the position of each window's first maximum.

    Parameters
    ----------
    X : ndarray of shape (batch, height, width, channels)

    Returns
    -------
    out : ndarray of shape (batch, out_height, out_width, channels), the maxima
    argmax : unsigned int ndarray shaped like `out`
        Row-major offset `row * pool_size + col` of the first maximum inside each window.
    """
    p, s = pool_size, stride
    out_height, out_width = (X.shape[1] - p) // s + 1, (X.shape[2] - p) // s + 1
    index_dtype = np.min_scalar_type(p * p - 1)
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

    out = _window_offset(row_max, 0, 1, s, out_height).copy()
    argmax = _window_offset(row_argmax, 0, 1, s, out_height).copy()
    for row in range(1, p):
        candidate = _window_offset(row_max, row, 1, s, out_height)
        offset = _window_offset(row_argmax, row, 1, s, out_height) + index_dtype.type(row * p)
        np.maximum(argmax, np.multiply(candidate > out, offset, dtype=index_dtype), out=argmax)
        np.maximum(out, candidate, out=out)
    return out, argmax


def max_pool_backward(d_out, argmax, input_shape, pool_size, stride):
    """Gradient of `max_pool` with respect to its input: each window's gradient goes to its first maximum.

    Parameters
    ----------
    d_out, argmax : ndarrays of shape (batch, out_height, out_width, channels)
    input_shape : (batch, height, width, channels)

    Returns
    -------
    ndarray of shape `input_shape`, dtype of `d_out`
    """
    p, s = pool_size, stride
    out_height, out_width = d_out.shape[1:3]
    d_input = np.zeros(input_shape, dtype=d_out.dtype)
    if s >= p:
        # Disjoint windows: every maximum has its own input element, written straight to its flat position.
        d_input.reshape(-1)[_argmax_positions(argmax, input_shape, p, s)] = d_out.reshape(-1)
        return d_input
    for offset in range(p * p):
        row, col = divmod(offset, p)
        rows = _window_offset(d_input, row, 1, s, out_height)
        rows_cols = _window_offset(rows, col, 2, s, out_width)
        rows_cols += (argmax == offset) * d_out  # += : overlapping windows may share a maximum
    return d_input


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


def _buffer(workspace, name, shape, dtype, zeros=False):
    """`workspace[name]` when it has this shape and dtype, else a new array (of zeros if asked) stored there."""
    array = None if workspace is None else workspace.get(name)
    if array is None or array.shape != shape or array.dtype != dtype:
        array = np.zeros(shape, dtype) if zeros else np.empty(shape, dtype)
        if workspace is not None:
            workspace[name] = array
    return array


def _zeroed(workspace, name, shape, dtype):
    """`_buffer` filled with zeros."""
    array = _buffer(workspace, name, shape, dtype)
    array.fill(0)
    return array


def _check_param(param, name, ndim, shape=None):
    """The value of `param`, checked to be a float array of `ndim` dimensions (and `shape` when given)."""
    value = check_float_array(param.value, f"{name}.value", ndim=ndim)
    if shape is not None and value.shape != shape:
        raise ValueError(f"`{name}.value` must have shape {shape}, got {value.shape}")
    return value


def _check_d_out(d_out, cache, layer_name, expected_shape=None):
    """`d_out` as a float array of the layer's output shape; refuses a backward pass before any forward pass."""
    if cache is None:
        raise ValueError(f"{layer_name}.backward() was called before forward(): run forward first")
    d_out = check_float_array(d_out, "d_out")
    expected_shape = cache.shape if expected_shape is None else tuple(expected_shape)
    if d_out.shape != expected_shape:
        raise ValueError(f"`d_out` must have the shape of the last forward output {expected_shape}, "
                         f"got {d_out.shape}")
    return d_out
