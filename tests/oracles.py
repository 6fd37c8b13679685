"""Plain, slow reference implementations that the tests compare the package against.

Written for obviousness, not speed: explicit loops over the batch, the output pixels and the channels, float64
throughout, nothing shared with the package. Images are NHWC: (batch, height, width, channels).
"""
import numpy as np
from scipy import signal


def conv_output_size(size, filter_size, padding, stride):
    """`(size + 2 * padding - filter_size) // stride + 1`, or None when the filter does not fit the padded input."""
    if filter_size > size + 2 * padding:
        return None
    return (size + 2 * padding - filter_size) // stride + 1


def pad(X, padding):
    """X of shape (batch, height, width, channels) with `padding` zeros on each side of height and width."""
    batch, height, width, channels = X.shape
    padded = np.zeros((batch, height + 2 * padding, width + 2 * padding, channels))
    padded[:, padding:padding + height, padding:padding + width, :] = X
    return padded


def conv2d(X, W, B, padding=0, stride=1):
    """Cross-correlation of X (batch, H, W, C) with W (k, k, C, F) plus B (F,), one output value at a time."""
    X, W, B = (np.asarray(a, dtype=np.float64) for a in (X, W, B))
    batch, height, width, in_channels = X.shape
    k, _, _, out_channels = W.shape
    out_height = conv_output_size(height, k, padding, stride)
    out_width = conv_output_size(width, k, padding, stride)
    padded = pad(X, padding)
    out = np.zeros((batch, out_height, out_width, out_channels))
    for n in range(batch):
        for y in range(out_height):
            for x in range(out_width):
                patch = padded[n, y * stride:y * stride + k, x * stride:x * stride + k, :]  # (k, k, C)
                for f in range(out_channels):
                    out[n, y, x, f] = np.sum(patch * W[:, :, :, f]) + B[f]
    return out


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


def max_pool(X, pool_size, stride):
    """Max over every pool_size x pool_size window moved by stride; windows that do not fit are dropped."""
    X = np.asarray(X, dtype=np.float64)
    batch, height, width, channels = X.shape
    out_height = (height - pool_size) // stride + 1
    out_width = (width - pool_size) // stride + 1
    out = np.zeros((batch, out_height, out_width, channels))
    for n in range(batch):
        for y in range(out_height):
            for x in range(out_width):
                for c in range(channels):
                    window = X[n, y * stride:y * stride + pool_size, x * stride:x * stride + pool_size, c]
                    out[n, y, x, c] = window.max()
    return out


def max_pool_backward(X, d_out, pool_size, stride):
    """Gradient of `max_pool`: each window's d_out goes to its first maximum in row-major order, and only there.

    Overlapping windows that share a maximum add their gradients on it.
    """
    X = np.asarray(X, dtype=np.float64)
    d_X = np.zeros(X.shape)
    batch, out_height, out_width, channels = d_out.shape
    for n in range(batch):
        for y in range(out_height):
            for x in range(out_width):
                for c in range(channels):
                    best_i, best_j = 0, 0
                    for i in range(pool_size):
                        for j in range(pool_size):
                            # Strictly greater: a later equal value never replaces the first maximum.
                            if X[n, y * stride + i, x * stride + j, c] > X[n, y * stride + best_i,
                                                                           x * stride + best_j, c]:
                                best_i, best_j = i, j
                    d_X[n, y * stride + best_i, x * stride + best_j, c] += d_out[n, y, x, c]
    return d_X


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
