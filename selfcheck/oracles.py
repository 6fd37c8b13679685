"""The definitions that check_solution.py compares a learner's layers against, written out as plain loops.

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


def convolution(X, W, B, padding):
    """Cross-correlation of the zero-padded X with every filter, plus the bias, one output pixel at a time.

    Parameters
    ----------
    X : ndarray of shape (batch, height, width, in_channels)
    W : ndarray of shape (filter_size, filter_size, in_channels, out_channels)
    B : ndarray of shape (out_channels,)
    padding : int
        Zeros added on each side of the height and width.

    Returns
    -------
    ndarray of shape (batch, height + 2 * padding - filter_size + 1, width + 2 * padding - filter_size + 1,
    out_channels)
    """
    batch, height, width, in_channels = X.shape
    k = W.shape[0]
    padded = np.zeros((batch, height + 2 * padding, width + 2 * padding, in_channels))
    padded[:, padding:padding + height, padding:padding + width] = X
    out_height, out_width = height + 2 * padding - k + 1, width + 2 * padding - k + 1
    out = np.zeros((batch, out_height, out_width, W.shape[3]))
    for n in range(batch):
        for y in range(out_height):
            for x in range(out_width):
                patch = padded[n, y:y + k, x:x + k]  # (k, k, in_channels)
                out[n, y, x] = np.tensordot(patch, W, axes=3) + B
    return out


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
