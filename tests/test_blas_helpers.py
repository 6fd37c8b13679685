"""The comparison helpers of tests/blas.py accept rounding between BLAS paths and still catch a wrong answer."""
import numpy as np
import pytest
from blas import assert_same_predictions, rtol_for


def test_a_near_tie_broken_the_other_way_by_rounding_is_accepted():
    scores = np.array([[1.0, 3.0, 3.0 + 1e-7], [2.0, 0.5, 0.1], [0.0, 1.0, -1.0]])
    assert_same_predictions([1, 0, 1], scores, rtol=rtol_for(np.float32))


def test_a_wrong_prediction_with_a_clear_margin_is_caught():
    scores = np.array([[1.0, 3.0, 2.0], [2.0, 0.5, 0.1]])
    with pytest.raises(AssertionError):
        assert_same_predictions([2, 0], scores, rtol=rtol_for(np.float32))


def test_rows_that_are_all_ties_cannot_pass_for_agreement():
    with pytest.raises(AssertionError, match="near ties"):
        assert_same_predictions([0, 0, 0], np.ones((3, 4)), rtol=1e-5)
