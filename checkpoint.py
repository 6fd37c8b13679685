"""Saving a model's parameters and architecture to `.npz`, and loading them back.

A checkpoint is an uncompressed `.npz` archive holding

- `__checkpoint__`: a JSON string `{"format": "numpy-cnn-checkpoint", "version": 1, "model": "ConvNet",
  "config": model.config()}`, the marker that tells our files from other archives and the arguments that rebuild
  the architecture;
- `params/<name>`: one array per entry of `model.params()`, e.g. `params/conv1_W`.

Files are written atomically (a temporary file in the same directory, then `os.replace`), so an interrupted save
never leaves a broken file under the final name, and read with `allow_pickle=False`, so loading never runs code.
"""
import json
import os
import zipfile

import numpy as np

from atomic import atomic_write
from model import ConvNet

FORMAT = "numpy-cnn-checkpoint"
VERSION = 1
METADATA_KEY = "__checkpoint__"
PARAM_PREFIX = "params/"
# Config entries that change neither the parameters' layout nor what they compute: a checkpoint saved in float32
# or with another L2 strength still loads (values are cast to the model's dtype).
_NOT_ARCHITECTURE = ("dtype", "reg")


def save_model(model, path):
    """Write every parameter of `model` and its architecture to the `.npz` file `path`, atomically.

    Parameters
    ----------
    model : object with `params() -> {name: Param}` and `config() -> dict` (JSON-serializable), e.g. ConvNet
    path : str or os.PathLike
        The file to write (replaced if it exists); its directory must exist.
    """
    path = _check_path(path)
    config = getattr(model, "config", None)
    if not callable(config):
        raise TypeError(f"`model` must have a config() method returning its constructor arguments, "
                        f"got {type(model).__name__}")
    try:
        metadata = json.dumps({"format": FORMAT, "version": VERSION, "model": type(model).__name__,
                               "config": config()})
    except TypeError as error:
        raise TypeError(f"`model.config()` must be JSON-serializable: {error}") from None
    arrays = {PARAM_PREFIX + name: np.asarray(param.value) for name, param in model.params().items()}
    arrays[METADATA_KEY] = np.array(metadata)

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save the model to {path}: directory {directory} does not exist")
    with atomic_write(path) as file:
        np.savez(file, **arrays)


def load_model(path):
    """Rebuild the ConvNet saved in `path`, with its parameters.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by `save_model`.

    Returns
    -------
    ConvNet, of the saved architecture and dtype

    Raises
    ------
    ValueError
        When the file is not a readable checkpoint of a ConvNet (see `load_params`).
    """
    path = _check_path(path)
    metadata, arrays = _read_checkpoint(path)
    if metadata.get("model") != ConvNet.__name__:
        raise ValueError(f"{path} holds a {metadata.get('model')!r} model; load_model rebuilds only ConvNet "
                         f"(use load_params with a model you build)")
    try:
        model = ConvNet(**metadata["config"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} holds an architecture ConvNet cannot build ({metadata['config']}): "
                         f"{error}") from None
    _assign(model, arrays, path)
    return model


def load_params(model, path):
    """Load the parameters saved in `path` into `model`, in place, casting them to the model's dtype.

    Everything is checked before any parameter changes: on an error the model is left as it was.

    Parameters
    ----------
    model : object with `params() -> {name: Param}` (and `config()`, compared with the saved one when present)
    path : str or os.PathLike
        A file written by `save_model`.

    Raises
    ------
    FileNotFoundError
        When `path` does not exist.
    ValueError
        When the file is truncated or corrupt, is not a checkpoint of this package, was saved from another
        architecture, or lacks a parameter of the model or has one of another shape (the message names it).
    """
    path = _check_path(path)
    metadata, arrays = _read_checkpoint(path)
    config = getattr(model, "config", None)
    if callable(config):
        _check_architecture(json.loads(json.dumps(config())), metadata["config"], path)
    _assign(model, arrays, path)


def best_checkpoint_path(path):
    """The sibling of `path` that `Trainer` writes the best epoch to: `run/model.npz` -> `run/model.best.npz`."""
    root, extension = os.path.splitext(_check_path(path))
    return f"{root}.best{extension}"


def _check_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def _read_checkpoint(path):
    """Return (metadata dict, {parameter name: array}) from `path`, turning every decoding failure into ValueError."""
    try:
        metadata, arrays = _read_archive(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable model checkpoint (truncated, corrupt or another kind of "
                         f"file): {error}") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a model checkpoint of this package: its `{METADATA_KEY}` entry does not "
                         f"say format {FORMAT!r}")
    if metadata.get("version") != VERSION:
        raise ValueError(f"{path} is a checkpoint of format version {metadata.get('version')!r}; this code reads "
                         f"version {VERSION}")
    if not isinstance(metadata.get("config"), dict):
        raise ValueError(f"{path} has no architecture (`config`) in its `{METADATA_KEY}` entry")
    return metadata, arrays


def _read_archive(path):
    """Raw contents of the checkpoint `path`; raises whatever numpy, zipfile or json raise on a bad file."""
    # np.load given a path leaks the open file when the archive is truncated; given a file object, it cannot.
    with open(path, "rb") as file:
        archive = np.load(file, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single .npy array, not a .npz archive")
        with archive:
            if METADATA_KEY not in archive.files:
                raise ValueError(f"it has no `{METADATA_KEY}` entry (entries: {', '.join(archive.files[:8])})")
            metadata = json.loads(str(archive[METADATA_KEY]))
            arrays = {name[len(PARAM_PREFIX):]: archive[name]
                      for name in archive.files if name.startswith(PARAM_PREFIX)}
    return metadata, arrays


def _check_architecture(model_config, saved_config, path):
    for key in sorted(set(model_config) | set(saved_config)):
        if key in _NOT_ARCHITECTURE:
            continue
        if model_config.get(key) != saved_config.get(key):
            raise ValueError(f"{path} was saved from another architecture: {key}={saved_config.get(key)!r} in the "
                             f"file, {key}={model_config.get(key)!r} in the model")


def _assign(model, arrays, path):
    """Check every saved array against the model's parameters, then assign them all."""
    params = model.params()
    for name, param in params.items():
        if name not in arrays:
            raise ValueError(f"{path} has no parameter `{name}` (it holds {', '.join(sorted(arrays)) or 'none'})")
        array = arrays[name]
        if array.shape != np.shape(param.value):
            raise ValueError(f"parameter `{name}` in {path} has shape {array.shape}, the model's has "
                             f"{np.shape(param.value)}")
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"parameter `{name}` in {path} has dtype {array.dtype}, expected floats")
    extra = sorted(set(arrays) - set(params))
    if extra:
        raise ValueError(f"{path} has parameter `{extra[0]}` that the model lacks: it was saved from another "
                         f"architecture")
    for name, param in params.items():
        param.value = arrays[name].astype(param.value.dtype)
