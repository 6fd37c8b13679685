"""Helpers shared by several check modules: numpy's global random state kept around a check or a call of the
learner's code (the template's model and trainer draw from it, the data loader's checks measure it), and a value
in one short line for a message.
"""
import contextlib
import functools

import numpy as np


def keeps_global_rng(seed=None):
    """Decorate a check so that numpy's global random state is the same after it as before (seeded inside when
    `seed` is given)."""
    def decorate(function):
        @functools.wraps(function)
        def wrapper(modules):
            state = np.random.get_state()
            try:
                if seed is not None:
                    np.random.seed(seed)
                return function(modules)
            finally:
                np.random.set_state(state)
        return wrapper
    return decorate


@contextlib.contextmanager
def global_rng_kept():
    """Restore numpy's global random state on leaving, whatever the learner's code did to it."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


def short(value):
    """`value`'s type and repr, cut to a line."""
    text = f"{type(value).__name__} {value!r}"
    return text if len(text) <= 80 else text[:77] + "..."
