"""Comparisons of results that BLAS computes along different paths: other batch sizes, thread counts, dtypes, CPUs.

BLAS promises no bitwise equality between two products that it blocks differently. On an AMD EPYC with OpenBLAS's
Haswell kernels, a float32 model's scores for the same images differ by up to 5e-7 relative between batches of 16
and of 40, every run; on another CPU they may agree to the bit. Tests that compare two such paths use these
helpers; a bitwise comparison stays right only where both sides run the same operations on the same arrays.
"""
import numpy as np

# A few float32 roundings through a handful of layers; float64 keeps most of its 16 digits.
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


def rtol_for(dtype):
    """The relative tolerance for results computed in `dtype` along two BLAS paths."""
    return RTOL[np.dtype(dtype)]


def assert_same_predictions(predictions, scores, rtol):
    """Class indices from one path agree with the argmax of another path's scores, except at near ties.

    predictions : (batch,) int, from one path (another batch size, dtype, thread count)
    scores : (batch, classes), the other path's scores
    rtol : where the two largest scores of a row are within `rtol` of the row's largest magnitude, rounding may
        pick either class, and the row is not compared
    """
    scores = np.asarray(scores, dtype=np.float64)
    top_two = np.sort(scores, axis=1)[:, -2:]
    margin = top_two[:, 1] - top_two[:, 0]
    clear = margin > rtol * np.abs(scores).max(axis=1)
    assert clear.sum() >= len(scores) // 2, "too many near ties to compare the predictions at all"
    np.testing.assert_array_equal(np.asarray(predictions)[clear], scores.argmax(axis=1)[clear])
