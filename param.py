"""`Param`, a trainable array and its gradient, and `Layer`, the base of every layer, with the checks of the layer
protocol (shared by every layer module)."""
import numpy as np

from kernels import check_shape
from validation import check_float_array


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


class Layer:
    """The base of every layer: the defaults of the protocol (see layers.py) for a layer without parameters whose
    output has its input's shape. Subclasses define `forward(X)` and `backward(d_out)`."""

    def params(self):
        """The layer's `Param`s by name."""
        return {}

    def config(self):
        """The constructor arguments that rebuild this layer (JSON-serializable; `Sequential.config` uses them)."""
        return {}

    def output_shape(self, input_shape):
        """The shape of one sample, any number of axes without the batch axis: returned as it came, a tuple."""
        return check_sample_shape(input_shape)


def check_sample_shape(input_shape, axes=None, last=None, last_name="input channels"):
    """`input_shape` as a tuple of ints >= 1: the shape of one sample, without the batch axis.

    `axes` names its axes, e.g. ("height", "width", "channels"), or is a tuple of such tuples, one per accepted
    length; None accepts any length. When `last` is given, the last entry must equal it (`last_name` says what it
    counts in the error).
    """
    if isinstance(input_shape, (tuple, list)) and axes is not None:
        alternatives = axes if isinstance(axes[0], tuple) else (axes,)
        if len(input_shape) not in [len(names) for names in alternatives]:
            described = " or ".join(f"({', '.join(names)}{',' * (len(names) == 1)})" for names in alternatives)
            raise ValueError(f"`input_shape` must be the shape of one sample, {described} without the batch axis, "
                             f"got {tuple(input_shape)}")
    shape = check_shape(input_shape, "input_shape", None)
    if last is not None and shape[-1] != last:
        raise ValueError(f"`input_shape` must end with the layer's {last} {last_name}, got {shape[-1]} "
                         f"(input_shape {shape})")
    return shape


def check_d_out(d_out, cache, layer_name, expected_shape=None):
    """`d_out` as a float array of the layer's output shape (`expected_shape`, else the shape of `cache`); refuses a
    backward pass before any forward pass (`cache`, what the forward pass kept, still None)."""
    if cache is None:
        raise ValueError(f"{layer_name}.backward() was called before forward(): run forward first")
    d_out = check_float_array(d_out, "d_out")
    expected_shape = cache.shape if expected_shape is None else tuple(expected_shape)
    if d_out.shape != expected_shape:
        raise ValueError(f"`d_out` must have the shape of the last forward output {expected_shape}, "
                         f"got {d_out.shape}")
    return d_out
