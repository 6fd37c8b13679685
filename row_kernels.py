"""The array functions behind the layers that work on rows: the activations (any shape, split along the first
axis) and the fully connected products (split along the batch), numpy only.

Like those of kernels.py, they split large arrays into chunks run at once on the threads of `threads.py`; sums
across chunks are added in chunk order.
"""
import numpy as np

import threads


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
