"""Shared pytest fixtures (pytest.ini puts the repository root, where the flat modules live, on sys.path)."""
import numpy as np
import pytest

from standin import make_standin


@pytest.fixture
def rng():
    """A fresh, seeded numpy Generator per test: tests never use or disturb the global numpy RNG."""
    return np.random.default_rng(20240601)


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """The folder of a stand-in data set (300 training and 100 test images, seed 0), one per test module."""
    folder = tmp_path_factory.mktemp("standin")
    make_standin(folder, n_train=300, n_test=100, seed=0)
    return str(folder)
