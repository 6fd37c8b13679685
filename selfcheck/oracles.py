"""The definitions that the self-check compares a learner's layers against, written out as plain loops; the tests
(tests/oracles.py) and the benchmarks use the same convolution and pooling references.

Numpy only, float64, nothing shared with the package: in the checker's worker the names `layers`, `kernels`, ...
are the learner's modules, so these oracles must not import them. Images are NHWC: (batch, height, width,
channels).
"""
import numpy as np


def fully_connected(X, W, B):
    """`X @ W + B`.

    X : ndarray of shape (batch, n_input); W : (n_input, n_output); B : (1, n_output).
    Returns an ndarray of shape (batch, n_output).
    """
    return X @ W + B


def convolution(X, W, B, padding=0, stride=1):
    """Cross-correlation of the zero-padded X with every filter, plus the bias, one output pixel at a time.

    The plain-loop reference of the convolution that the self-check, the tests and the benchmarks compare with.

    Parameters
    ----------
    X : ndarray of shape (batch, height, width, in_channels)
    W : ndarray of shape (filter_size, filter_size, in_channels, out_channels)
    B : ndarray of shape (out_channels,)
    padding : int
        Zeros added on each side of the height and width.
    stride : int
        Step between two windows.

    Returns
    -------
    ndarray of shape (batch, out_height, out_width, out_channels), float64, with
    `out_height = (height + 2 * padding - filter_size) // stride + 1` (conv_output_size), the same for the width
    """
    X, W, B = (np.asarray(array, dtype=np.float64) for array in (X, W, B))
    k, s = W.shape[0], stride
    padded = pad(X, padding)
    out_height, out_width = (conv_output_size(size, k, padding, s) for size in X.shape[1:3])
    out = np.zeros((X.shape[0], out_height, out_width, W.shape[3]))
    for n in range(X.shape[0]):
        for y in range(out_height):
            for x in range(out_width):
                patch = padded[n, y * s:y * s + k, x * s:x * s + k]  # (k, k, in_channels)
                out[n, y, x] = np.tensordot(patch, W, axes=3) + B
    return out


def conv_output_size(size, filter_size, padding, stride):
    """`(size + 2 * padding - filter_size) // stride + 1`, or None when the filter does not fit the padded input."""
    if filter_size > size + 2 * padding:
        return None
    return (size + 2 * padding - filter_size) // stride + 1


def pad(X, padding):
    """X of shape (batch, height, width, channels) with `padding` zeros on each side of height and width, float64."""
    batch, height, width, channels = X.shape
    padded = np.zeros((batch, height + 2 * padding, width + 2 * padding, channels))
    padded[:, padding:padding + height, padding:padding + width, :] = X
    return padded


def max_pool(X, pool_size, stride):
    """Maximum of every `pool_size x pool_size` window moved by `stride`, per channel.

    X : ndarray of shape (batch, height, width, channels).
    Returns an ndarray of shape (batch, (height - pool_size) // stride + 1, (width - pool_size) // stride + 1,
    channels).
    """
    out_height, out_width = pool_output_size(X.shape[1:3], pool_size, stride)
    out = np.zeros((X.shape[0], out_height, out_width, X.shape[3]))
    for y in range(out_height):
        for x in range(out_width):
            window = X[:, y * stride:y * stride + pool_size, x * stride:x * stride + pool_size]
            out[:, y, x] = window.max(axis=(1, 2))
    return out


def max_pool_backward(X, d_out, pool_size, stride):
    """Gradient of `max_pool`: each window's d_out goes to its first maximum in row-major order, and only there;
    overlapping windows that share a maximum add their gradients on it.

    X : ndarray of shape (batch, height, width, channels); d_out : (batch, out_height, out_width, channels).
    Returns an ndarray of X's shape, float64.
    """
    d_X = np.zeros(X.shape)
    batch, out_height, out_width, channels = d_out.shape
    for n in range(batch):
        for y in range(out_height):
            for x in range(out_width):
                for c in range(channels):
                    window = X[n, y * stride:y * stride + pool_size, x * stride:x * stride + pool_size, c]
                    i, j = np.unravel_index(np.argmax(window), window.shape)  # argmax: the first maximum
                    d_X[n, y * stride + i, x * stride + j, c] += d_out[n, y, x, c]
    return d_X


def pool_output_size(input_size, pool_size, stride):
    """(out_height, out_width) of a pooling over (height, width): `(size - pool_size) // stride + 1` each."""
    return tuple((size - pool_size) // stride + 1 for size in input_size)


def windows_covering(input_size, pool_size, stride):
    """How many pooling windows contain each pixel: an int ndarray of shape (height, width)."""
    counts = np.zeros(input_size, dtype=int)
    out_height, out_width = pool_output_size(input_size, pool_size, stride)
    for y in range(out_height):
        for x in range(out_width):
            counts[y * stride:y * stride + pool_size, x * stride:x * stride + pool_size] += 1
    return counts


def softmax_cross_entropy(predictions, target):
    """Mean over the batch of `-log(softmax(predictions)[target])`, computed stably (log-sum-exp).

    predictions : ndarray of shape (n_classes,) or (batch, n_classes); target : int array of shape (batch,).
    Returns a float.
    """
    logits = np.atleast_2d(predictions)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(log_probabilities[np.arange(len(logits)), target]))
