"""A training state (`Trainer.state_dict()`): its layout in a checkpoint, its checks, and the optimizers and
generators it carries.

A state is a tree of dicts (str keys without '/'), lists, JSON scalars and ndarrays of numbers. In a checkpoint its
JSON part replaces each array by `{ARRAY_MARKER: "<path>"}` and the arrays are stored as `training_state/<path>`
(`split_tree`, `join_tree`); `check_state_keys` and `checked_arrays` check a state before a Trainer takes it.
"""
import copy
import numbers

import numpy as np

from validation import check_int, check_number

# Where an array of the training state stands in its JSON part: {"__ndarray__": "<path>"}.
ARRAY_MARKER = "__ndarray__"
STATE_KEYS = ("epoch", "learning_rate", "history", "best_val_accuracy", "best_epoch", "reference_loss",
              "epochs_without_improvement", "stopped_early", "params", "buffers", "best_params", "rng")
# Absent from states saved without them: optimizers that have no state_dict(), and older checkpoints' layer_rngs.
OPTIONAL_KEYS = ("optimizers", "layer_rngs")
# In a state's layer_rngs: the layer draws from the Trainer's own generator (train.py's models do).
SHARED_GENERATOR = "trainer"


def split_tree(tree, name):
    """(`tree` as JSON with each ndarray replaced by {ARRAY_MARKER: its path}, {path: ndarray}).

    `tree` holds dicts with str keys without '/', lists, tuples, numbers, strings, booleans, None and ndarrays of
    numbers or booleans; `name` is how errors call it.
    """
    arrays = {}

    def split(value, where):
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                raise TypeError(f"`{name}` must hold arrays of numbers, got dtype {value.dtype} at {where!r}")
            arrays[where] = value
            return {ARRAY_MARKER: where}
        if isinstance(value, dict):
            bad = [key for key in value if not isinstance(key, str) or not key or "/" in key or key == ARRAY_MARKER]
            if bad:
                raise ValueError(f"`{name}` keys must be non-empty strings without '/', got {bad[0]!r} at {where!r}")
            return {key: split(item, f"{where}/{key}" if where else key) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [split(item, f"{where}/{index}" if where else str(index)) for index, item in enumerate(value)]
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, (str, bool, numbers.Real)):
            return value
        raise TypeError(f"`{name}` must hold numbers, strings, booleans, None, lists, dicts and ndarrays, got "
                        f"{type(value).__name__} at {where!r}")

    return split(tree, ""), arrays


def join_tree(tree, arrays, path):
    """`tree` with every {ARRAY_MARKER: path} replaced by its array, the inverse of `split_tree`."""
    if isinstance(tree, dict):
        if set(tree) == {ARRAY_MARKER}:
            if tree[ARRAY_MARKER] not in arrays:
                raise ValueError(f"{path} is not a readable model checkpoint: its training state lacks the array "
                                 f"{tree[ARRAY_MARKER]!r}")
            return arrays[tree[ARRAY_MARKER]]
        return {key: join_tree(value, arrays, path) for key, value in tree.items()}
    if isinstance(tree, list):
        return [join_tree(value, arrays, path) for value in tree]
    return tree


def check_state_keys(state):
    """Raise unless `state` is a dict with the keys of `Trainer.state_dict()` (OPTIONAL_KEYS may be missing)."""
    if not isinstance(state, dict):
        raise TypeError(f"`state` must be a dict from Trainer.state_dict(), got {type(state).__name__}")
    missing = [key for key in STATE_KEYS if key not in state]
    unknown = sorted(set(state) - {*STATE_KEYS, *OPTIONAL_KEYS})
    if missing or unknown:
        raise ValueError(f"`state` must have the keys of Trainer.state_dict(); "
                         f"{'it lacks ' + ', '.join(missing) if missing else 'unknown: ' + ', '.join(unknown)}")
    check_int(state["epoch"], "state['epoch']", 0)
    check_number(state["learning_rate"], "state['learning_rate']", minimum=0, strict_minimum=True)
    if not isinstance(state["history"], list) or len(state["history"]) != state["epoch"]:
        raise ValueError(f"`state['history']` must be a list of one record per epoch ({state['epoch']})")


def checked_arrays(arrays, expected, kind):
    """`arrays` ({name: ndarray}) checked to have the names and shapes of `expected` ({name: ndarray})."""
    if not isinstance(arrays, dict) or set(arrays) != set(expected):
        held = ", ".join(arrays) if isinstance(arrays, dict) else type(arrays).__name__
        raise ValueError(f"the training state's {kind}s ({held or 'none'}) are not the model's "
                         f"({', '.join(expected) or 'none'})")
    for name, value in expected.items():
        array = arrays[name]
        if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"{kind} `{name}` of the training state must be a float ndarray, got "
                             f"{type(array).__name__}")
        if array.shape != np.shape(value):
            raise ValueError(f"{kind} `{name}` of the training state has shape {array.shape}, the model's has "
                             f"{np.shape(value)}")
    return arrays


def layer_generators(model):
    """{layer name: numpy Generator} of the model's layers that draw random numbers (Dropout's `rng`)."""
    return {name: layer.rng for name, layer in getattr(model, "layers", {}).items()
            if isinstance(getattr(layer, "rng", None), np.random.Generator)}


def layer_generator_states(model, trainer_rng):
    """{layer name: its generator's state, or SHARED_GENERATOR where it is `trainer_rng` itself}."""
    return {name: SHARED_GENERATOR if generator is trainer_rng else generator.bit_generator.state
            for name, generator in layer_generators(model).items()}


def loaded_layer_generators(model, states, trainer_rng):
    """{layer name: the Generator it draws from after loading `states`}, checked; {} for a state without them."""
    generators = layer_generators(model)
    if states is None:
        return {}
    if not isinstance(states, dict) or set(states) != set(generators):
        held = ", ".join(states) if isinstance(states, dict) else type(states).__name__
        raise ValueError(f"`state['layer_rngs']` must hold the generators of the model's layers "
                         f"({', '.join(generators) or 'none'}), got {held or 'none'}")
    loaded = {}
    for name, generator in generators.items():
        if states[name] == SHARED_GENERATOR:
            loaded[name] = trainer_rng
            continue
        loaded[name] = copy.deepcopy(generator)
        try:
            loaded[name].bit_generator.state = states[name]
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"`state['layer_rngs']['{name}']` is not a state of that layer's generator "
                             f"({type(generator.bit_generator).__name__}): {error}") from None
    return loaded


def loaded_optimizers(optim, params, states):
    """{parameter name: a copy of `optim` holding its state from `states`} (None: starting from zero), checked."""
    optimizers = {name: copy.deepcopy(optim) for name in params}
    if states is None:
        return optimizers
    if not isinstance(states, dict) or set(states) != set(optimizers):
        held = ", ".join(states) if isinstance(states, dict) else type(states).__name__
        raise ValueError(f"`state['optimizers']` must hold one state per parameter ({', '.join(optimizers)}), "
                         f"got {held}")
    for name, optimizer in optimizers.items():
        try:
            optimizer.load_state_dict(states[name])
        except (TypeError, ValueError) as error:
            raise type(error)(f"optimizer state of `{name}`: {error}") from None
    return optimizers
