"""Stride-1 convolution as k * k matrix products over shifted row slices of the padded input: no im2col patch copy.

The input is copied once into a zero-padded NHWC buffer flattened to rows, `padded` of shape
(batch * padded_height * padded_width, in_channels), `padded_height = height + 2 * padding` (likewise the width).
The output pixel whose filter window starts at padded position (n, y, x) is row
`r = (n * padded_height + y) * padded_width + x`, and the input it takes at filter offset (i, j) is row
`r + i * padded_width + j`. For one offset, the inputs of every output pixel of the batch are thus one contiguous
row slice, and

    out[r] = sum over (i, j) of padded[r + i * padded_width + j] @ W[i, j],   for r < n_rows
    n_rows = batch * padded_height * padded_width - (k - 1) * (padded_width + 1)

is k * k BLAS products accumulated in place (gemm with beta = 1), where im2col first copies the input k * k times.
Rows with y > padded_height - k or x > padded_width - k mix pixels of the next row or image: they are computed and
dropped. The backward passes are the same slices transposed.

BLAS is Fortran-ordered: a C-contiguous (rows, cols) array is a Fortran (cols, rows) array, so every product is
computed transposed (`out.T = W[i, j].T @ slice.T`) and no operand is copied.

The batch is split into chunks of whole images run at once on the threads of `threads.py`. scipy's `?gemm` wrappers
hold the GIL while BLAS multiplies (two threads calling them took as long as one thread calling them twice), so the
products call the same Fortran routine through ctypes, which releases it (1.8x faster on 2 threads).
"""
import ctypes
from typing import NamedTuple

import numpy as np
from scipy.linalg import blas

import threads
from kernels import workspace_buffer
from validation import check_float_array, check_images, check_int


def _gil_free_gemm(scipy_gemm, scalar):
    """A function called like scipy's `scipy_gemm` (`gemm(alpha, a, b, beta=0.0, c=None, trans_a=False,
    trans_b=False, overwrite_c=False)`) that runs the Fortran routine behind it through ctypes, releasing the GIL,
    when `c` is given to be overwritten and every operand is Fortran-contiguous of its dtype; else scipy's.

    `scalar` is the ctypes type of the dtype (c_float, c_double). scipy's wrapper itself is returned when its
    routine cannot be reached (a build without `_cpointer`).
    """
    try:
        get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
        get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        address = get_pointer(scipy_gemm._cpointer, None)
    except (AttributeError, ValueError):
        return scipy_gemm
    integer, scalar_p, array = ctypes.POINTER(ctypes.c_int), ctypes.POINTER(scalar), ctypes.c_void_p
    # ?gemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) by reference, then the two hidden
    # lengths of the character arguments that gfortran passes.
    routine = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, integer, integer, integer, scalar_p, array,
                               integer, array, integer, scalar_p, array, integer, ctypes.c_size_t,
                               ctypes.c_size_t)(address)
    dtype = np.dtype(scalar)

    def gemm(alpha, a, b, beta=0.0, c=None, trans_a=False, trans_b=False, overwrite_c=False):
        operands = (a, b) if c is None else (a, b, c)
        if (c is None or not overwrite_c or not c.flags.writeable
                or any(x.dtype != dtype or not x.flags.f_contiguous for x in operands)):
            return scipy_gemm(alpha, a, b, beta=beta, c=c, trans_a=trans_a, trans_b=trans_b, overwrite_c=overwrite_c)
        (m, n), k = c.shape, a.shape[0] if trans_a else a.shape[1]
        routine(b"T" if trans_a else b"N", b"T" if trans_b else b"N", *(ctypes.c_int(size) for size in (m, n, k)),
                scalar(alpha), a.ctypes.data, ctypes.c_int(max(1, a.shape[0])), b.ctypes.data,
                ctypes.c_int(max(1, b.shape[0])), scalar(beta), c.ctypes.data, ctypes.c_int(max(1, m)), 1, 1)
        return c
    return gemm


_GEMM = {np.dtype(np.float32): _gil_free_gemm(blas.sgemm, ctypes.c_float),
         np.dtype(np.float64): _gil_free_gemm(blas.dgemm, ctypes.c_double)}


class ConvCache(NamedTuple):
    """What `conv_backward` needs from `conv_forward`.

    `padded` is a buffer of the workspace: the next `conv_forward` with the same workspace overwrites it.
    """

    padded: np.ndarray  # (batch * padded_height * padded_width, in_channels), the zero-padded input rows
    input_shape: tuple  # (batch, height, width, in_channels)
    W: np.ndarray  # (k, k, in_channels, out_channels), C-contiguous, in the computing dtype
    padding: int
    workspace: dict


def conv_forward(X, W, B, padding, workspace=None):
    """Stride-1 cross-correlation of `X` with `W` plus `B`, with zero padding.

    Parameters
    ----------
    X : ndarray of shape (batch, height, width, in_channels)
        Converted to the dtype of `W` (float32 or float64), which the computation uses.
    W : ndarray of shape (k, k, in_channels, out_channels)
    B : ndarray of shape (out_channels,)
    padding : int >= 0
        Zeros added on each side of the height and width.
    workspace : dict, optional
        Buffers kept from an earlier call and reused when their shape and dtype fit (any dict; give each layer its
        own): large arrays are then not faulted in again on every call.

    Returns
    -------
    Y : ndarray of shape (batch, out_height, out_width, out_channels), a new array
        `out_height = height + 2 * padding - k + 1`, likewise `out_width`.
    cache : ConvCache
        For `conv_backward`; valid until the next `conv_forward` with the same workspace.
    """
    X, W, B, padding = _check_forward(X, W, B, padding)
    batch, height, width, in_channels = X.shape
    k, out_channels = W.shape[0], W.shape[3]
    padded_height, padded_width = height + 2 * padding, width + 2 * padding
    out_height, out_width = padded_height - k + 1, padded_width - k + 1
    workspace = {} if workspace is None else workspace
    padded = workspace_buffer(workspace, "padded", (batch, padded_height, padded_width, in_channels), W.dtype)
    out = workspace_buffer(workspace, "out", (batch, padded_height, padded_width, out_channels), W.dtype)
    Y = np.empty((batch, out_height, out_width, out_channels), W.dtype)
    bias_row = np.tile(B, out_width)

    def forward_images(images):
        """Pad, multiply and add the bias for the images of the slice `images`, in place."""
        padded_part = padded[images]
        _zero_outside(padded_part, (padding, padding + height), (padding, padding + width))
        padded_part[:, padding:padding + height, padding:padding + width] = X[images]
        out_part = out[images].reshape(-1, out_channels)  # (images * padded_h * padded_w, F)
        _shifted_products(padded_part.reshape(-1, in_channels), W, out_part, padded_width)
        # The valid outputs, one run of out_w * F numbers per output row; the bias added along those runs in the copy.
        rows = out[images].reshape(-1, padded_height, padded_width * out_channels)
        np.add(rows[:, :out_height, :out_width * out_channels], bias_row,
               out=Y[images].reshape(-1, out_height, out_width * out_channels))

    threads.map_rows(forward_images, batch, _image_work(padded_height * padded_width, W, 1))
    cache = ConvCache(padded.reshape(-1, in_channels), X.shape, W, padding, workspace)
    return Y, cache


def conv_backward(d_out, cache, compute_input_grad=True):
    """Gradients of `conv_forward`'s output with respect to its input, weights and bias.

    Parameters
    ----------
    d_out : ndarray of shape (batch, out_height, out_width, out_channels)
        Gradient of the loss with respect to `Y`; converted to the computing dtype.
    cache : ConvCache
        From the `conv_forward` call that gave `Y`.
    compute_input_grad : bool
        When False, `d_X` is not computed (None): the first layer of a network does not need it.

    Returns
    -------
    d_X : ndarray of shape (batch, height, width, in_channels), or None
    d_W : ndarray of shape (k, k, in_channels, out_channels)
    d_B : ndarray of shape (out_channels,)
        New arrays, in the computing dtype.
    """
    if not isinstance(cache, ConvCache):
        raise TypeError(f"`cache` must be the ConvCache returned by conv_forward, got {type(cache).__name__}")
    padded, (batch, height, width, in_channels), W, padding, workspace = cache
    k, out_channels = W.shape[0], W.shape[3]
    padded_height, padded_width = height + 2 * padding, width + 2 * padding
    out_height, out_width = padded_height - k + 1, padded_width - k + 1
    d_out = check_float_array(d_out, "d_out")
    if d_out.shape != (batch, out_height, out_width, out_channels):
        raise ValueError(f"`d_out` must have the shape of the forward output "
                         f"{(batch, out_height, out_width, out_channels)}, got {d_out.shape}")

    d_rows = workspace_buffer(workspace, "d_rows", (batch, padded_height, padded_width, out_channels), W.dtype)
    padded = padded.reshape(batch, -1, in_channels)  # (batch, padded_h * padded_w, C)
    d_X = np.empty((batch, height, width, in_channels), W.dtype) if compute_input_grad else None
    d_padded = None
    if compute_input_grad:
        d_padded = workspace_buffer(workspace, "d_padded", (batch, padded_height, padded_width, in_channels), W.dtype)

    def backward_images(images):
        """d_W and d_B of the images of the slice `images`; their d_X written in place."""
        # d_out laid out like the forward's `out` rows, zero on the dropped rows so that they add nothing below.
        d_rows_part = d_rows[images]
        _zero_outside(d_rows_part, (0, out_height), (0, out_width))
        d_rows_part[:, :out_height, :out_width] = d_out[images]
        d_rows_part = d_rows_part.reshape(-1, out_channels)  # (images * padded_h * padded_w, F)
        d_W, d_B = _weight_products(padded[images].reshape(-1, in_channels), d_rows_part, W, padded_width)
        if compute_input_grad:
            d_padded_part = d_padded[images]
            _input_products(d_rows_part, W, d_padded_part.reshape(-1, in_channels), padded_width)
            d_X[images] = d_padded_part[:, padding:padding + height, padding:padding + width]
        return d_W, d_B

    work = _image_work(padded_height * padded_width, W, 1 + compute_input_grad)
    parts = threads.map_rows(backward_images, batch, work)
    d_W = threads.sum_in_order([d_W for d_W, _ in parts])
    d_B = threads.sum_in_order([d_B for _, d_B in parts])
    return d_X, d_W, d_B


def _shifted_products(padded, W, out, padded_width):
    """out[r] = sum over (i, j) of padded[r + i * padded_width + j] @ W[i, j], for the rows r < n_rows.

    padded : (rows, C) and out : (rows, F), whole images of padded rows; W : (k, k, C, F).
    """
    k = W.shape[0]
    n_rows = _n_rows(padded.shape[0], k, padded_width)
    gemm = _GEMM[W.dtype]
    for index, (i, j) in enumerate(np.ndindex(k, k)):
        start = i * padded_width + j
        # (F, n_rows) = (F, C) @ (C, n_rows), i.e. out[:n_rows] (+)= padded[start:start + n_rows] @ W[i, j]
        gemm(1.0, W[i, j].T, padded[start:start + n_rows].T, beta=float(index > 0), c=out[:n_rows].T,
             overwrite_c=True)


def _weight_products(padded, d_rows, W, padded_width):
    """d_W (k, k, C, F) and d_B (F,) of the rows `padded` (rows, C) and their output gradients `d_rows` (rows, F),
    zero on the dropped rows."""
    k = W.shape[0]
    n_rows = _n_rows(padded.shape[0], k, padded_width)
    gemm = _GEMM[W.dtype]
    d_W = np.empty_like(W)
    for i, j in np.ndindex(k, k):
        start = i * padded_width + j
        # (F, C) = (F, n_rows) @ (n_rows, C), i.e. d_W[i, j] = padded[start:start + n_rows].T @ d_rows[:n_rows]
        gemm(1.0, d_rows[:n_rows].T, padded[start:start + n_rows].T, trans_b=True, c=d_W[i, j].T, overwrite_c=True)
    # A column sum as ones @ (n_rows, F): BLAS beats .sum(axis=0) 4x; numpy's matmul releases the GIL.
    d_B = np.ones(n_rows, dtype=W.dtype) @ d_rows[:n_rows]
    return d_W, d_B


def _input_products(d_rows, W, d_padded, padded_width):
    """d_padded (rows, C) = the gradient of the padded rows, from `d_rows` (rows, F), zero on the dropped rows."""
    k = W.shape[0]
    n_rows = _n_rows(d_rows.shape[0], k, padded_width)
    gemm = _GEMM[W.dtype]
    d_padded[n_rows:] = 0  # the first product (beta = 0) writes the rows before these
    for index, (i, j) in enumerate(np.ndindex(k, k)):
        start = i * padded_width + j
        # (C, n_rows) = (C, F) @ (F, n_rows), i.e. d_padded[start:start + n_rows] (+)= d_rows[:n_rows] @ W[i, j].T
        gemm(1.0, W[i, j].T, d_rows[:n_rows].T, trans_a=True, beta=float(index > 0),
             c=d_padded[start:start + n_rows].T, overwrite_c=True)


def _check_forward(X, W, B, padding):
    """The arguments of `conv_forward`, checked; W C-contiguous and X, B in W's dtype."""
    W = check_float_array(W, "W", ndim=4)
    k, k_width, in_channels, out_channels = W.shape
    if k != k_width or min(W.shape) == 0:
        raise ValueError(f"`W` must have shape (k, k, in_channels, out_channels) with square, non-empty filters, "
                         f"got {W.shape}")
    X = check_images(X, "X", in_channels)
    B = check_float_array(B, "B", ndim=1)
    if B.shape != (out_channels,):
        raise ValueError(f"`B` must have shape ({out_channels},) (one bias per output channel), got {B.shape}")
    padding = check_int(padding, "padding", 0)
    height, width = X.shape[1:3]
    if k > height + 2 * padding or k > width + 2 * padding:
        raise ValueError(f"`W`'s filter size {k} is larger than the padded input "
                         f"({height + 2 * padding}x{width + 2 * padding} height x width, padding {padding})")
    W = np.ascontiguousarray(W)
    return X, W, B.astype(W.dtype, copy=False), padding


def _image_work(padded_pixels, W, n_products):
    """What one image costs `n_products` sets of k * k products over its `padded_pixels` rows, in elements for
    `threads.chunks`: the elements it copies and its multiply-adds."""
    k, _, in_channels, out_channels = W.shape
    products = n_products * padded_pixels * k * k * in_channels * out_channels * threads.ELEMENTS_PER_MULTIPLY_ADD
    return int(padded_pixels * (in_channels + out_channels) + products)


def _n_rows(total_rows, k, padded_width):
    """Rows of `out` computed: every row whose k * k shifted inputs stay inside the `total_rows` padded rows."""
    return total_rows - (k - 1) * (padded_width + 1)


def _zero_outside(array, rows, cols):
    """Zero `array` (batch, height, width, channels) outside rows[0]:rows[1], cols[0]:cols[1] of height, width."""
    array[:, :rows[0]] = 0
    array[:, rows[1]:] = 0
    array[:, rows[0]:rows[1], :cols[0]] = 0
    array[:, rows[0]:rows[1], cols[1]:] = 0
