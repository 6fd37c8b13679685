"""`Param`: a trainable array and the gradient that backward passes add into (shared by every layer module)."""
import numpy as np


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
