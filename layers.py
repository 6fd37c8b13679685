"""The layers of the network, numpy only; the array functions they run on are in kernels.py.

Images are NHWC: (batch, height, width, channels). Every layer has `forward(X)`, which keeps what the backward pass
needs, `backward(d_out)`, which returns the gradient with respect to the input and *adds* into each `Param.grad`,
`params()`, a dict of its `Param`s, and `output_shape(input_shape)`, the shape of one output sample for one input
sample, both without the batch axis: `forward(X).shape == (len(X), *layer.output_shape(X.shape[1:]))`, and
`config()`. Every layer derives from `param.Layer`, which gives a parameter-free, shape-preserving layer's defaults.

Inputs, gradients and parameter values are float32 or float64 arrays; any other dtype (float16, integers, ...) is a
TypeError. Layers with parameters compute in the dtype of their parameters (float64 unless `dtype=` says
otherwise); an input of the other precision is converted to it. Parameter-free layers keep the dtype of their input.
"""
import numpy as np

from conv_gemm import conv_backward as shifted_conv_backward
from conv_gemm import conv_forward as shifted_conv_forward

# The array kernels live in kernels.py; the checked ones (im2col, col2im, conv_output_shape, the pooling functions)
# are re-exported so that `from layers import im2col` works.
from kernels import (  # noqa: F401
    CHANNELS_LAST_FROM,
    affine_backward,
    affine_forward,
    avg_pool,
    avg_pool_backward,
    avg_pool_backward_unchecked,
    avg_pool_unchecked,
    col2im,
    conv_output_shape,
    conv_output_shape_unchecked,
    im2col,
    im2col_conv_backward,
    im2col_conv_forward,
    max_pool,
    max_pool_backward,
    max_pool_backward_unchecked,
    max_pool_unchecked,
    pool_output_shape,
    relu,
    relu_backward,
    tanh,
    tanh_backward,
)
from param import Layer, Param, check_d_out, check_sample_shape

# The thread policy, importable from here as well: `from layers import set_num_threads`.
from threads import get_num_threads, set_num_threads  # noqa: F401
from validation import check_dtype, check_float_array, check_images, check_int, check_labels, check_number, check_rng

# ConvolutionalLayer switches from im2col to conv_gemm's shifted-slice products at stride 1 from this many input
# channels, while the padded input has at most this many pixels per output pixel (single-thread medians, batch 64:
# 32x32 32->32 2x faster, 16x16 64->64 1.25x; 8x8 128->128 (1.56 padded pixels per output) 1.2x slower, and 3 input
# channels 1.5x slower).
SHIFTED_PRODUCTS_MIN_CHANNELS = 16
SHIFTED_PRODUCTS_MAX_OVERHEAD = 1.3


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


class ReLULayer(Layer):
    """Elementwise max(X, 0).

    Input shape: any, float32 or float64. Output shape: the same.
    """

    def __init__(self):
        self._positive = None

    def forward(self, X):
        out, self._positive = relu(check_float_array(X, "X"))
        return out

    def backward(self, d_out):
        return relu_backward(check_d_out(d_out, self._positive, "ReLULayer"), self._positive)


class TanhLayer(Layer):
    """Elementwise tanh (LeNet's original activation); the forward pass keeps its output for the backward one.

    Input shape: any, float32 or float64. Output shape: the same.
    """

    def __init__(self):
        self._out = None

    def forward(self, X):
        self._out = tanh(check_float_array(X, "X"))
        return self._out

    def backward(self, d_out):
        return tanh_backward(check_d_out(d_out, self._out, "TanhLayer"), self._out)


class FullyConnectedLayer(Layer):
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
        Weights are drawn from N(0, gain / n_input): 2 (He) suits a layer followed by ReLU; 1/3 (the variance of
        PyTorch's nn.Linear, what lenet() and vgg() use) an output layer, whose first loss is then near
        ln(n_output).

    Input shape: (batch, n_input), float32 or float64. Output shape: (batch, n_output).
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
        return affine_forward(self._X, self.W.value, self.B.value)

    def backward(self, d_out):
        d_out = check_d_out(d_out, self._X, "FullyConnectedLayer", (self._X.shape[0], self.W.value.shape[1])
                             if self._X is not None else None)
        d_out = d_out.astype(self.W.value.dtype, copy=False)
        d_X, d_W, d_B = affine_backward(self._X, self.W.value, d_out)
        self.W.grad += d_W
        self.B.grad += d_B
        return d_X

    def params(self):
        return {"W": self.W, "B": self.B}

    def config(self):
        n_input, n_output = self.W.value.shape
        return {"n_input": n_input, "n_output": n_output, "dtype": self.W.value.dtype.name}

    def output_shape(self, input_shape):
        """(n_input,) -> (n_output,): the shape of one sample, without the batch axis."""
        shape = check_sample_shape(input_shape, ("n_input",))
        n_input, n_output = _check_param(self.W, "W", 2).shape
        if shape != (n_input,):
            raise ValueError(f"`input_shape` must be ({n_input},), the layer's n_input, got {shape}")
        return (n_output,)


class ConvolutionalLayer(Layer):
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
        Source of the initial weights, drawn from N(0, gain / (filter_size**2 * in_channels)).
    gain : float, keyword-only
        2 (He, the default) suits a layer followed by ReLU, 1 (LeCun) one followed by tanh.
    compute_input_grad : bool, keyword-only
        When False, `backward` fills the parameter gradients and returns None: the first layer of a network does not
        need the gradient with respect to the images.

    Input shape: (batch, height, width, in_channels), float32 or float64.
    Output shape: (batch, out_height, out_width, out_channels), with
    `out_height = (height + 2 * padding - filter_size) // stride + 1` and likewise for the width.
    W : (filter_size, filter_size, in_channels, out_channels), B : (out_channels,).
    """

    def __init__(self, in_channels, out_channels, filter_size, padding=0, *, stride=1, dtype=np.float64,
                 seed=None, gain=2.0, compute_input_grad=True):
        self.in_channels = check_int(in_channels, "in_channels", 1)
        self.out_channels = check_int(out_channels, "out_channels", 1)
        self.filter_size = check_int(filter_size, "filter_size", 1)
        self.padding = check_int(padding, "padding", 0)
        self.stride = check_int(stride, "stride", 1)
        self.compute_input_grad = bool(compute_input_grad)
        dtype = check_dtype(dtype)
        gain = check_number(gain, "gain", minimum=0, strict_minimum=True)
        shape = (filter_size, filter_size, in_channels, out_channels)
        fan_in = filter_size * filter_size * in_channels
        W = check_rng(seed).standard_normal(shape) * np.sqrt(gain / fan_in)
        self.W = Param(W.astype(dtype))
        self.B = Param(np.zeros(out_channels, dtype=dtype))
        self._cols = None
        self._shifted_cache = None
        self._input_shape = None
        self._workspace = {}
        self._shifted_workspace = {}

    def forward(self, X):
        X = check_images(X, "X", self.in_channels)
        k, C, F = self.filter_size, self.in_channels, self.out_channels
        _check_param(self.W, "W", 4, (k, k, C, F))
        _check_param(self.B, "B", 1, (F,))
        out_height, out_width = conv_output_shape_unchecked(X.shape[1:3], k, self.padding, self.stride)
        X = X.astype(self.W.value.dtype, copy=False)
        self._input_shape = X.shape
        self._cols = self._shifted_cache = None
        if self._uses_shifted_products(X.shape, out_height, out_width):
            out, self._shifted_cache = shifted_conv_forward(X, self.W.value, self.B.value, self.padding,
                                                            self._shifted_workspace)
            return out

        out, self._cols = im2col_conv_forward(X, self.W.value, self.B.value, self.padding, self.stride, self._workspace)
        return out

    def backward(self, d_out):
        expected = None
        if self._input_shape is not None:
            out_shape = conv_output_shape_unchecked(self._input_shape[1:3], self.filter_size, self.padding, self.stride)
            expected = (self._input_shape[0], *out_shape, self.out_channels)
        forward_state = self._cols if self._shifted_cache is None else self._shifted_cache
        d_out = check_d_out(d_out, forward_state, "ConvolutionalLayer", expected)
        if self._shifted_cache is not None:
            d_X, d_W, d_B = shifted_conv_backward(d_out, self._shifted_cache, self.compute_input_grad)
            self.W.grad += d_W
            self.B.grad += d_B
            return d_X
        d_out = d_out.astype(self.W.value.dtype, copy=False)
        d_X, d_W, d_B = im2col_conv_backward(d_out, self._cols, self.W.value, self._input_shape, self.padding,
                                             self.stride, self._workspace, self.compute_input_grad)
        self.W.grad += d_W
        self.B.grad += d_B
        return d_X

    def params(self):
        return {"W": self.W, "B": self.B}

    def _uses_shifted_products(self, input_shape, out_height, out_width):
        """Whether conv_gemm's shifted-slice products beat im2col for this input (measured on this machine).

        They skip the patch copy, which dominates from about 16 input channels on, but compute the outputs of
        every padded position: worth it while the padded image is at most 30% larger than the output.
        """
        padded_pixels = (input_shape[1] + 2 * self.padding) * (input_shape[2] + 2 * self.padding)
        return (self.stride == 1 and self.in_channels >= SHIFTED_PRODUCTS_MIN_CHANNELS
                and padded_pixels <= SHIFTED_PRODUCTS_MAX_OVERHEAD * out_height * out_width)

    def config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels, "filter_size": self.filter_size,
                "padding": self.padding, "stride": self.stride, "dtype": self.W.value.dtype.name}

    def output_shape(self, input_shape):
        """(height, width, in_channels) -> (out_height, out_width, out_channels): the shape of one sample, without
        the batch axis; ValueError when the filter is larger than the padded input."""
        shape = check_sample_shape(input_shape, ("height", "width", "in_channels"), self.in_channels)
        try:
            out_height, out_width = conv_output_shape_unchecked(shape[:2], self.filter_size, self.padding, self.stride)
        except ValueError as error:
            raise ValueError(f"`input_shape` {shape} is too small: {error}") from None
        return out_height, out_width, self.out_channels


class _WindowPooling(Layer):
    """What max and average pooling share: `pool_size x pool_size` windows moved by `stride`, no parameters."""

    def __init__(self, pool_size, stride):
        self.pool_size = check_int(pool_size, "pool_size", 1)
        self.stride = check_int(stride, "stride", 1)
        self._input_shape = None

    def config(self):
        return {"pool_size": self.pool_size, "stride": self.stride}

    def output_shape(self, input_shape):
        """(height, width, channels) -> (out_height, out_width, channels): the shape of one sample, without the
        batch axis; ValueError when the window is larger than the input."""
        shape = check_sample_shape(input_shape, ("height", "width", "channels"))
        try:
            out_height, out_width = pool_output_shape(shape[:2], self.pool_size, self.stride)
        except ValueError as error:
            raise ValueError(f"`input_shape` {shape} is too small: {error}") from None
        return out_height, out_width, shape[2]


class MaxPoolingLayer(_WindowPooling):
    """Max over `pool_size x pool_size` windows moved by `stride`, per channel.

    Windows may overlap (stride < pool_size); windows that do not fit at the bottom or right edge are dropped.
    The backward pass gives each window's gradient to one element: its first maximum in row-major order.
    The forward pass keeps a reference to its input's window positions, not a copy of the input.

    Input shape: (batch, height, width, channels), float32 or float64.
    Output shape: (batch, (height - pool_size) // stride + 1, (width - pool_size) // stride + 1, channels).
    """

    def __init__(self, pool_size, stride):
        super().__init__(pool_size, stride)
        self._argmax = None

    def forward(self, X):
        X = check_images(X, "X")
        pool_output_shape(X.shape[1:3], self.pool_size, self.stride)
        out, self._argmax = max_pool_unchecked(X, self.pool_size, self.stride)
        self._input_shape = X.shape
        return out

    def backward(self, d_out):
        d_out = check_d_out(d_out, self._argmax, "MaxPoolingLayer")
        return max_pool_backward_unchecked(d_out, self._argmax, self._input_shape, self.pool_size, self.stride)


class AveragePoolingLayer(_WindowPooling):
    """Mean over `pool_size x pool_size` windows moved by `stride`, per channel.

    Same windows as `MaxPoolingLayer`: they may overlap (stride < pool_size), and those that do not fit at the
    bottom or right edge are dropped. The backward pass shares each window's gradient equally among its pixels,
    summing the shares where windows overlap.

    Input shape: (batch, height, width, channels), float32 or float64.
    Output shape: (batch, (height - pool_size) // stride + 1, (width - pool_size) // stride + 1, channels).
    """

    def forward(self, X):
        X = check_images(X, "X")
        pool_output_shape(X.shape[1:3], self.pool_size, self.stride)
        self._input_shape = X.shape
        return avg_pool_unchecked(X, self.pool_size, self.stride)

    def backward(self, d_out):
        expected = None
        if self._input_shape is not None:
            batch, height, width, channels = self._input_shape
            expected = (batch, *pool_output_shape((height, width), self.pool_size, self.stride), channels)
        d_out = check_d_out(d_out, self._input_shape, "AveragePoolingLayer", expected)
        return avg_pool_backward_unchecked(d_out, self._input_shape, self.pool_size, self.stride)


class GlobalAveragePooling(Layer):
    """Mean over the whole height and width, per channel.

    Input shape: (batch, height, width, channels), float32 or float64. Output shape: (batch, channels).
    """

    def __init__(self):
        self._input_shape = None

    def forward(self, X):
        X = check_images(X, "X")
        self._input_shape = X.shape
        batch, height, width, channels = X.shape
        return X.reshape(batch, height * width, channels).mean(axis=1)

    def backward(self, d_out):
        expected = None if self._input_shape is None else (self._input_shape[0], self._input_shape[3])
        d_out = check_d_out(d_out, self._input_shape, "GlobalAveragePooling", expected)
        batch, height, width, channels = self._input_shape
        share = d_out / (height * width)  # every pixel of a channel had the same weight in its mean
        return np.broadcast_to(share[:, None, None, :], self._input_shape).copy()

    def output_shape(self, input_shape):
        """(height, width, channels) -> (channels,): the shape of one sample, without the batch axis."""
        return check_sample_shape(input_shape, ("height", "width", "channels"))[2:]


class Flattener(Layer):
    """Reshapes (batch, height, width, channels) to (batch, height * width * channels) and back.

    Input shape: (batch, height, width, channels), float32 or float64.
    Output shape: (batch, height * width * channels).
    """

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
        d_out = check_d_out(d_out, self._input_shape, "Flattener", expected)
        return d_out.reshape(self._input_shape)

    def output_shape(self, input_shape):
        """(height, width, channels) -> (height * width * channels,): the shape of one sample, without the batch
        axis."""
        height, width, channels = check_sample_shape(input_shape, ("height", "width", "channels"))
        return (height * width * channels,)


def _check_param(param, name, ndim, shape=None):
    """The value of `param`, checked to be a float array of `ndim` dimensions (and `shape` when given)."""
    value = check_float_array(param.value, f"{name}.value", ndim=ndim)
    if shape is not None and value.shape != shape:
        raise ValueError(f"`{name}.value` must have shape {shape}, got {value.shape}")
    return value


# The layers whose behaviour depends on `training` live in normalization.py, importable from here as well. Imported
# last: normalization.py does not import this module, so either can be imported first.
from normalization import BatchNormalization, Dropout  # noqa: E402, F401
