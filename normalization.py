"""Layers that behave differently in training and in evaluation: `BatchNormalization` and `Dropout`.

Each has an attribute `training` (True when built); a model's `train()` / `eval()` set it. `backward` always follows
the mode of the last `forward`, whatever `training` says by then. Same protocol as the layers of `layers.py`:
`forward(X)`, `backward(d_out)` (returns the input gradient and *adds* into each `Param.grad`), `params()`,
`config()` and `output_shape(input_shape)`, with `param.Layer` as the base.
"""
import numpy as np

import threads
from kernels import workspace_buffer
from param import Layer, Param, check_d_out, check_sample_shape
from validation import check_dtype, check_float_array, check_int, check_number, check_rng

# The large arrays are walked this many bytes of rows at a time: the few operations on a chunk then run in cache
# instead of each making a pass over the whole array, and the chunks' sums are added up in float64.
_CHUNK_BYTES = 256 * 1024
# Rows averaged for the shift that the batch statistics are summed around.
_SHIFT_SAMPLES = 1024


class BatchNormalization(Layer):
    """Batch normalization over every axis but the last (the features, or the channels of NHWC images).

    `out = gamma * (X - mean) / sqrt(var + eps) + beta`, per feature. In training, `mean` and `var` are the batch's
    own (biased variance) and the running statistics move towards them: `running = (1 - momentum) * running +
    momentum * batch_stat`, with the unbiased batch variance for `running_var` (PyTorch's rule). In evaluation,
    `mean` and `var` are `running_mean` and `running_var`, which stay as they are.

    Parameters
    ----------
    n_features : int
        Size of the last axis of the input.
    momentum : float in [0, 1], keyword-only
        Weight of the new batch in the running statistics.
    eps : float > 0, keyword-only
        Added to the variance: a constant feature normalizes to 0 (then `beta`), never to NaN.
    dtype : float32 or float64, keyword-only
        Dtype of the parameters, the running statistics and the computation. Sums over the batch are made in
        that dtype chunk by chunk (a chunk is 256 KiB of rows) and the chunks' sums added in float64.

    Input shape: (batch, n_features) or (batch, height, width, n_features). Output shape: the same.
    gamma, beta : Params of shape (n_features,), ones and zeros. running_mean, running_var : ndarrays of shape
    (n_features,), zeros and ones, updated in place.

    Training needs more than one value per feature (batch * height * width > 1): a single value has no variance,
    and like PyTorch the layer raises ValueError rather than normalize it to zero. The forward pass keeps `X` minus
    about its mean in a buffer of the input's size, reused by the next call.
    """

    def __init__(self, n_features, *, momentum=0.1, eps=1e-5, dtype=np.float64):
        self.n_features = check_int(n_features, "n_features", 1)
        self.momentum = check_number(momentum, "momentum", minimum=0, maximum=1)
        self.eps = check_number(eps, "eps", minimum=0, strict_minimum=True)
        dtype = check_dtype(dtype)
        self.gamma = Param(np.ones(n_features, dtype=dtype))
        self.beta = Param(np.zeros(n_features, dtype=dtype))
        self.running_mean = np.zeros(n_features, dtype=dtype)
        self.running_var = np.ones(n_features, dtype=dtype)
        self.training = True
        self._cache = None
        self._workspace = {}

    def forward(self, X):
        """Normalize `X` of shape (batch, n_features) or (batch, height, width, n_features); same shape out."""
        X = self._check_input(X)
        dtype = self.gamma.value.dtype
        rows = X.reshape(-1, self.n_features)  # (n, n_features), n = batch [* height * width]
        # X - shift, kept for backward in a buffer reused from call to call (converted to the layer's dtype as it is
        # written); shift is close to the mean, the small rest `offset` is carried separately.
        centered = workspace_buffer(self._workspace, "centered", rows.shape, dtype)
        if self.training:
            shift = _sample_mean(rows).astype(dtype)
            offset, var = _centered_statistics(rows, shift, centered)
            n = rows.shape[0]
            self._update_running_statistics(shift + offset, var * (n / (n - 1)))
        else:
            np.subtract(rows, self.running_mean.astype(dtype), out=centered)
            offset, var = np.zeros(self.n_features), self.running_var.astype(np.float64)
        inv_std = 1 / np.sqrt(var + self.eps)
        self._cache = (self.training, X.shape, centered, offset, inv_std)
        scale = self.gamma.value * inv_std
        out = _affine(centered, scale.astype(dtype), (self.beta.value - offset * scale).astype(dtype))
        return out.reshape(X.shape)

    def backward(self, d_out):
        """Gradient with respect to the input of the last forward pass; adds into `gamma.grad` and `beta.grad`.

        In training, the gradient goes through the batch statistics too:
        `d_X = gamma / (sigma * n) * (n * d_out - sum(d_out) - xhat * sum(d_out * xhat))`, sums over the n rows,
        `xhat = (X - mean) / sigma`. In evaluation the layer is affine: `d_X = d_out * gamma / sigma`.
        """
        d_out = check_d_out(d_out, self._cache, "BatchNormalization", self._cache and self._cache[1])
        training, input_shape, centered, offset, inv_std = self._cache
        dtype = centered.dtype
        d_rows = d_out.astype(dtype, copy=False).reshape(centered.shape)  # (n, n_features)
        sum_d_out, sum_d_out_centered = _gradient_sums(d_rows, centered)
        sum_d_out_xhat = (sum_d_out_centered - offset * sum_d_out) * inv_std  # X - mean = centered - offset
        self.gamma.grad += sum_d_out_xhat.astype(self.gamma.grad.dtype)
        self.beta.grad += sum_d_out.astype(self.beta.grad.dtype)
        scale = self.gamma.value * inv_std
        if not training:
            return np.multiply(d_rows, scale.astype(dtype)).reshape(input_shape)
        n = centered.shape[0]
        # The fused expression regrouped per feature: d_out * scale + (X - mean) * a + c.
        a = -scale * inv_std * sum_d_out_xhat / n
        c = -scale * sum_d_out / n - offset * a
        d_X = _affine(centered, a.astype(dtype), c.astype(dtype), d_rows, scale.astype(dtype))
        return d_X.reshape(input_shape)

    def params(self):
        return {"gamma": self.gamma, "beta": self.beta}

    def config(self):
        return {"n_features": self.n_features, "momentum": self.momentum, "eps": self.eps,
                "dtype": self.gamma.value.dtype.name}

    def buffers(self):
        """The running statistics, the arrays themselves: {"running_mean": ..., "running_var": ...}."""
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def output_shape(self, input_shape):
        """(n_features,) -> (n_features,), (height, width, n_features) -> the same: one sample, without the batch
        axis."""
        return check_sample_shape(input_shape, (("n_features",), ("height", "width", "n_features")), self.n_features,
                                  "features")

    def _check_input(self, X):
        """`X` checked against the layer: 2-D or 4-D, `n_features` last, enough values per feature in training."""
        X = check_float_array(X, "X")
        if X.ndim not in (2, 4) or X.shape[-1] != self.n_features or X.size == 0:
            raise ValueError(f"`X` must have shape (batch, {self.n_features}) or (batch, height, width, "
                             f"{self.n_features}) with at least one sample, got {X.shape}")
        for name, array in (("gamma.value", self.gamma.value), ("beta.value", self.beta.value),
                            ("running_mean", self.running_mean), ("running_var", self.running_var)):
            array = check_float_array(array, name)
            if array.shape != (self.n_features,):
                raise ValueError(f"`{name}` must have shape ({self.n_features},), got {array.shape}")
        if self.training and X.size == self.n_features:
            raise ValueError("`X` must hold more than 1 value per feature in training (batch * height * width > 1),"
                             f" got shape {X.shape}; set `training = False` to normalize single samples with the "
                             "running statistics")
        return X

    def _update_running_statistics(self, mean, unbiased_var):
        """running = (1 - momentum) * running + momentum * batch_stat, in place (buffers() hands out these arrays)."""
        self.running_mean[...] = (1 - self.momentum) * self.running_mean + self.momentum * mean
        self.running_var[...] = (1 - self.momentum) * self.running_var + self.momentum * unbiased_var


class Dropout(Layer):
    """Inverted dropout: in training, each element is kept with probability `1 - p` and scaled by `1 / (1 - p)`,
    else set to 0; in evaluation, the identity.

    Parameters
    ----------
    p : float in [0, 1]
        Probability of dropping an element. `p = 1` drops everything (zeros out, zero gradient), as in PyTorch.
    seed : None, int or numpy.random.Generator, keyword-only
        Source of the masks: the layer draws from its own generator, never from the global one.

    Input shape: any. Output shape: the same, dtype of the input (the mask is made in that dtype).
    `rng` is the generator of the masks; `Trainer` keeps its state in the training state, so a resumed run draws
    the masks an uninterrupted one would. The identity cases (evaluation, or `p = 0`) return `X` itself and `d_out`
    itself, not copies, and draw nothing.
    """

    def __init__(self, p, *, seed=None):
        self.p = check_number(p, "p", minimum=0, maximum=1)
        self.rng = check_rng(seed)
        self.training = True
        self._mask = None
        self._input_shape = None

    def forward(self, X):
        X = check_float_array(X, "X")
        self._input_shape = X.shape
        if not self.training or self.p == 0:
            self._mask = None
            return X
        keep_scale = 1 / (1 - self.p) if self.p < 1 else 0.0
        mask = self.rng.random(X.shape, dtype=X.dtype)  # uniform in [0, 1): kept when >= p, probability 1 - p
        np.multiply(mask >= self.p, X.dtype.type(keep_scale), out=mask)
        self._mask = mask
        return X * mask

    def backward(self, d_out):
        d_out = check_d_out(d_out, self._input_shape, "Dropout", self._input_shape)
        return d_out if self._mask is None else d_out * self._mask

    def config(self):
        """The constructor arguments that rebuild this layer, without the seed: a rebuilt layer draws new masks."""
        return {"p": self.p}


def _sample_mean(rows):
    """Mean of about `_SHIFT_SAMPLES` rows of `rows` (n, n_features) spread over all of them, float64."""
    sample = rows[::max(1, rows.shape[0] // _SHIFT_SAMPLES)]
    return sample.sum(axis=0, dtype=np.float64) / sample.shape[0]


def _centered_statistics(rows, shift, centered):
    """Write `rows - shift` into `centered` (both (n, n_features)); return the mean's offset from `shift` and the
    biased variance, float64 arrays of shape (n_features,).

    One pass, summing `rows - shift` and its squares: with `shift` near the mean, the sums hold small numbers (float32
    chunk sums lose nothing to a large mean) and `var = E[(X - shift)^2] - offset^2` does not cancel, `offset` being
    a small fraction of the std (the shifted-data algorithm; `E[X^2] - mean^2` would cancel when |mean| >> std).
    """
    n, n_features = rows.shape
    ones = np.ones(min(n, _chunk_rows(centered)), dtype=centered.dtype)

    def sums(chunk):
        part = centered[chunk]
        np.subtract(rows[chunk], shift, out=part)
        return ones[:part.shape[0]] @ part, np.einsum("ij,ij->j", part, part)  # the first a BLAS column sum

    offset, squares = _add_up(_map_chunks(sums, centered), n_features)
    offset /= n
    return offset, np.maximum(squares / n - offset * offset, 0)


def _gradient_sums(d_rows, centered):
    """`sum(d_rows)` and `sum(d_rows * centered)` over the rows, float64 arrays of shape (n_features,)."""
    n, n_features = centered.shape
    ones = np.ones(min(n, _chunk_rows(centered)), dtype=centered.dtype)

    def sums(chunk):
        d_part = d_rows[chunk]
        return ones[:d_part.shape[0]] @ d_part, np.einsum("ij,ij->j", d_part, centered[chunk])

    return _add_up(_map_chunks(sums, centered), n_features)


def _affine(A, a, c, B=None, b=None):
    """`A * a + c`, plus `B * b` when B is given: A, B of shape (n, columns), the rest (columns,); a new array.

    Each chunk of rows is finished while it is in cache.
    """
    out = np.empty_like(A)

    def affine(chunk, term=None):
        out_part = np.multiply(A[chunk], a, out=out[chunk])
        out_part += c
        if B is not None:
            out_part += np.multiply(B[chunk], b, out=term[:out_part.shape[0]])

    _map_chunks(affine, A, scratch=B is not None)
    return out


def _map_chunks(function, A, scratch=False):
    """`[function(chunk) for chunk in _chunks(A)]`, consecutive chunks shared out among the package's threads.

    With `scratch`, `function(chunk, buffer)` is called instead, `buffer` an uninitialised array of one chunk of
    rows of `A`, reused for every chunk that a thread runs.
    """
    row_chunks = _chunks(A)

    def run_group(group):
        if not scratch:
            return [function(chunk) for chunk in row_chunks[group]]
        buffer = np.empty((min(A.shape[0], _chunk_rows(A)), A.shape[1]), dtype=A.dtype)
        return [function(chunk, buffer) for chunk in row_chunks[group]]

    groups = threads.map_rows(run_group, len(row_chunks), _chunk_rows(A) * A.shape[1])
    return [result for group in groups for result in group]


def _add_up(chunk_sums, n_features):
    """The float64 totals of a list of per-chunk tuples of sums, each (n_features,), added in chunk order."""
    totals = tuple(np.zeros(n_features) for _ in chunk_sums[0])
    for sums in chunk_sums:
        for total, part in zip(totals, sums):
            total += part
    return totals


def _chunk_rows(A):
    """How many rows of the 2-D `A` make one chunk of about `_CHUNK_BYTES`."""
    return max(1, _CHUNK_BYTES // (A.shape[1] * A.itemsize))


def _chunks(A):
    """Slices of consecutive rows of the 2-D `A`, one chunk each, covering all its rows."""
    step = _chunk_rows(A)
    return [slice(start, start + step) for start in range(0, A.shape[0], step)]
