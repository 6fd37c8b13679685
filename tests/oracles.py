"""Plain, slow reference implementations that the tests compare the package against.

Written for obviousness, not speed: explicit loops over the batch, the output pixels and the channels, float64
throughout, nothing shared with the package. The convolution and max pooling loops come from selfcheck/oracles.py.
Images are NHWC: (batch, height, width, channels).
"""
import numpy as np
from scipy import signal

# The convolution and pooling references are the self-check's (one copy for the self-check, tests and benchmarks).
from selfcheck.oracles import conv_output_size, max_pool, max_pool_backward, pad  # noqa: F401  (used by the tests)
from selfcheck.oracles import convolution as conv2d  # noqa: F401


def conv2d_scipy(X, W, B, padding=0, stride=1):
    """The same convolution through scipy.signal.correlate: a 'valid' correlation, then every stride-th pixel."""
    X, W, B = (np.asarray(a, dtype=np.float64) for a in (X, W, B))
    padded = pad(X, padding)
    outputs = []
    for n in range(X.shape[0]):
        channels_out = []
        for f in range(W.shape[3]):
            # (H', W', C) correlated with (k, k, C) over all three axes -> (H' - k + 1, W' - k + 1, 1)
            full = signal.correlate(padded[n], W[:, :, :, f], mode="valid")[:, :, 0]
            channels_out.append(full[::stride, ::stride] + B[f])
        outputs.append(np.stack(channels_out, axis=-1))
    return np.stack(outputs)


def im2col(X, filter_size, padding, stride):
    """Every patch of the zero-padded X as one column: rows ordered (i, j, channel), columns (batch, out_y, out_x)."""
    X = np.asarray(X, dtype=np.float64)
    batch, height, width, channels = X.shape
    k = filter_size
    out_height = conv_output_size(height, k, padding, stride)
    out_width = conv_output_size(width, k, padding, stride)
    padded = pad(X, padding)
    cols = np.zeros((k * k * channels, batch * out_height * out_width))
    column = 0
    for n in range(batch):
        for y in range(out_height):
            for x in range(out_width):
                row = 0
                for i in range(k):
                    for j in range(k):
                        for c in range(channels):
                            cols[row, column] = padded[n, y * stride + i, x * stride + j, c]
                            row += 1
                column += 1
    return cols


def fully_connected(X, W, B):
    """X (batch, n_input) @ W (n_input, n_output) + B (1, n_output), one output value at a time."""
    X, W, B = (np.asarray(a, dtype=np.float64) for a in (X, W, B))
    out = np.zeros((X.shape[0], W.shape[1]))
    for n in range(X.shape[0]):
        for o in range(W.shape[1]):
            out[n, o] = np.sum(X[n, :] * W[:, o]) + B[0, o]
    return out


def flatten(X):
    """(batch, H, W, C) -> (batch, H * W * C), walking height, then width, then channels (NHWC order)."""
    X = np.asarray(X, dtype=np.float64)
    batch, height, width, channels = X.shape
    out = np.zeros((batch, height * width * channels))
    for n in range(batch):
        i = 0
        for y in range(height):
            for x in range(width):
                for c in range(channels):
                    out[n, i] = X[n, y, x, c]
                    i += 1
    return out


def relu(X):
    """max(X, 0) one element at a time."""
    X = np.asarray(X, dtype=np.float64)
    out = X.copy()
    for index in np.ndindex(X.shape):
        if out[index] < 0:
            out[index] = 0.0
    return out


def softmax_cross_entropy(logits, targets):
    """Mean cross-entropy of softmax(logits) and its gradient, one sample at a time.

    logits : (batch, n_classes); targets : sequence of `batch` class indices.
    """
    logits = np.asarray(logits, dtype=np.float64)
    batch, n_classes = logits.shape
    total = 0.0
    grad = np.zeros(logits.shape)
    for n in range(batch):
        shifted = logits[n] - logits[n].max()  # exp of at most 0: no overflow for large logits
        log_sum = np.log(np.sum(np.exp(shifted)))
        total += log_sum - shifted[targets[n]]
        probs = np.exp(shifted - log_sum)
        for k in range(n_classes):
            grad[n, k] = (probs[k] - (1.0 if k == targets[n] else 0.0)) / batch
    return total / batch, grad


def numeric_gradient(f, x, delta=1e-6):
    """Central differences `(f(x + delta e_i) - f(x - delta e_i)) / (2 delta)` of a scalar f, in float64.

    `x` is perturbed in place one element at a time and restored.
    """
    assert x.dtype == np.float64, "numeric gradients need float64"
    grad = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + delta
        f_plus = f()
        x[index] = original - delta
        f_minus = f()
        x[index] = original
        grad[index] = (f_plus - f_minus) / (2 * delta)
    return grad
