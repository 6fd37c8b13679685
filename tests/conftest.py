"""Shared pytest fixtures (pytest.ini puts the repository root, where the flat modules live, on sys.path)."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh, seeded numpy Generator per test: tests never use or disturb the global numpy RNG."""
    return np.random.default_rng(20240601)
