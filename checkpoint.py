"""Saving a model's parameters and architecture to `.npz`, and loading them back.

A checkpoint is an uncompressed `.npz` archive holding

- `__checkpoint__`: a JSON string `{"format": "numpy-cnn-checkpoint", "version": 1, "model": "ConvNet",
  "config": model.config()}`, the marker that tells our files from other archives and the arguments that rebuild
  the architecture;
- `params/<name>`: one array per entry of `model.params()`, e.g. `params/conv1_W`;
- `buffers/<name>`: one array per entry of `model.buffers()` when the model has them, e.g.
  `buffers/bn1_running_mean` (BatchNorm's running statistics), so that a loaded model predicts exactly as the saved
  one did;
- optionally, what turns raw images into the model's input (`save_model(..., preprocessing=...)`): its scalars
  under the key `"preprocessing"` of the JSON string, its arrays as `preprocessing/<name>`, e.g.
  `preprocessing/mean_image`. Files without it (older ones too) load as before; `load_classifier` needs it.
- optionally, what training needs to go on as if never stopped (`save_model(..., training_state=...)`, e.g.
  `Trainer.state_dict()`): its JSON part under the key `"training_state"`, each of its arrays (optimizer moments,
  parameters) as `training_state/<path>` with a `{"__ndarray__": "<path>"}` in its place in the JSON
  (training_state.py).
  `load_training_state` reads it back; files without it (older ones too) load as before.

Files are written atomically (a temporary file in the same directory, then `os.replace`), so an interrupted save
never leaves a broken file under the final name, and read with `allow_pickle=False`, so loading never runs code.

Nothing is replaced silently: `save_model` never replaces a file that is not a checkpoint of this package, and
replaces a checkpoint only when given `overwrite=True`. A file that is not a checkpoint (a CSV, an image, a plain
`.npy` or another program's `.npz`) is refused with `NotACheckpointError`, a ValueError that names the file.
"""
import json
import math
import numbers
import os
import zipfile

import numpy as np

from atomic import atomic_write
from model import ConvNet, Sequential
from training_state import join_tree, split_tree
from validation import check_finite, check_float_array, check_number, check_output_file

FORMAT = "numpy-cnn-checkpoint"
VERSION = 1
METADATA_KEY = "__checkpoint__"
PARAM_PREFIX = "params/"
BUFFER_PREFIX = "buffers/"
# The model classes load_model rebuilds, each from its saved config().
MODEL_BUILDERS = {"ConvNet": lambda config: ConvNet(**config), "Sequential": Sequential.from_config}
PREPROCESSING_KEY = "preprocessing"
PREPROCESSING_PREFIX = "preprocessing/"
TRAINING_STATE_KEY = "training_state"
TRAINING_STATE_PREFIX = "training_state/"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # an .npz is a zip archive (the second: an empty one)
# What a file that is not a zip archive is, from its first bytes, to say so.
FILE_KINDS = ((b"\x93NUMPY", "a single .npy array"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
              (b"\x80", "a Python pickle"))
# Config entries that change neither the parameters' layout nor what they compute: a checkpoint saved in float32
# or with another L2 strength still loads (values are cast to the model's dtype).
_NOT_ARCHITECTURE = ("dtype", "reg")


class NotACheckpointError(ValueError):
    """The file is not a checkpoint of this package (another kind of file, or one too broken to tell)."""

    def __init__(self, path, reason):
        super().__init__(f"{path} is not a checkpoint of this package: {reason}")
        self.path = path


def save_model(model, path, *, preprocessing=None, training_state=None, overwrite=False):
    """Write every parameter of `model` and its architecture to the `.npz` file `path`, atomically.

    Parameters
    ----------
    model : object with `params() -> {name: Param}` and `config() -> dict` (JSON-serializable), e.g. ConvNet
    path : str or os.PathLike
        The file to write; its directory must exist. Checked first, before anything else: a file there is replaced
        only when it is a checkpoint of this package and `overwrite` is True.
    preprocessing : None or dict, keyword-only
        What turns raw images into the model's input, saved beside the parameters: str keys (no '/') mapped to
        numbers, strings, booleans, None or ndarrays of numbers. `Classifier` applies `scale` (float) and
        `mean_image` (ndarray of shape (height, width, channels)): `images * scale - mean_image`, as
        `train.py` saves them.
    training_state : None or dict, keyword-only
        What training needs to continue, e.g. `Trainer.state_dict()`: str keys (no '/') mapped to numbers,
        strings, booleans, None, lists, dicts of the same, or ndarrays of numbers; read back by
        `load_training_state`.
    overwrite : bool, keyword-only
        Replace a checkpoint of this package that `path` holds. Without it an existing file is never replaced;
        with it, only a checkpoint is (never another kind of file).

    Raises
    ------
    IsADirectoryError, FileNotFoundError
        When `path` is a directory or its directory does not exist; nothing is computed or written.
    FileExistsError
        When `path` holds a checkpoint and `overwrite` is False, or a file that is not a checkpoint of this
        package; nothing is written.
    TypeError, ValueError
        When `model` has no `config()`, or `preprocessing` or `training_state` holds something else; nothing is
        written.
    """
    path = check_output_file(path, "path")
    if not isinstance(overwrite, (bool, np.bool_)):
        raise TypeError(f"`overwrite` must be True or False, got {overwrite!r}")
    if os.path.lexists(path):
        _check_replaceable(path, overwrite)
    config = getattr(model, "config", None)
    if not callable(config):
        raise TypeError(f"`model` must have a config() method returning its constructor arguments, "
                        f"got {type(model).__name__}")
    metadata = {"format": FORMAT, "version": VERSION, "model": type(model).__name__, "config": config()}
    arrays = {}
    if preprocessing is not None:
        metadata[PREPROCESSING_KEY], preprocessing_arrays = _split_preprocessing(preprocessing)
        arrays.update({PREPROCESSING_PREFIX + key: value for key, value in preprocessing_arrays.items()})
    if training_state is not None:
        if not isinstance(training_state, dict):
            raise TypeError(f"`training_state` must be None or a dict, got {type(training_state).__name__}")
        metadata[TRAINING_STATE_KEY], state_arrays = split_tree(training_state, "training_state")
        arrays.update({TRAINING_STATE_PREFIX + key: value for key, value in state_arrays.items()})
    try:
        metadata = json.dumps(metadata)
    except TypeError as error:
        raise TypeError(f"`model.config()` must be JSON-serializable: {error}") from None
    arrays.update({PARAM_PREFIX + name: np.asarray(param.value) for name, param in model.params().items()})
    arrays.update({BUFFER_PREFIX + name: np.asarray(buffer) for name, buffer in _buffers(model).items()})
    arrays[METADATA_KEY] = np.array(metadata)
    with atomic_write(path) as file:
        np.savez(file, **arrays)


def load_model(path):
    """Rebuild the ConvNet or Sequential saved in `path`, with its parameters and buffers.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by `save_model`.

    Returns
    -------
    ConvNet or Sequential, of the saved architecture and dtype (a Sequential comes back in training mode, as
    built; its predict() switches to evaluation mode by itself)

    Raises
    ------
    ValueError
        When the file is not a readable checkpoint of a ConvNet or Sequential (see `load_params`).
    """
    return _load(path)[0]


def load_classifier(path):
    """Load the model saved in `path` with its preprocessing, ready to predict on raw images in one call.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by `save_model(..., preprocessing=...)`, e.g. `model.npz` of a `train.py` run.

    Returns
    -------
    Classifier

    Raises
    ------
    ValueError
        When the file is not a readable checkpoint of a ConvNet, holds no preprocessing, or holds preprocessing
        `Classifier` cannot apply.

    Example::

        classifier = load_classifier("runs/first/model.npz")
        digits = classifier.predict(images)      # uint8 or float pixel values 0..255, (n, 32, 32, 3)
    """
    model, preprocessing = _load(path)
    if preprocessing is None:
        raise ValueError(f"{os.fspath(path)} holds no preprocessing (it was saved without `preprocessing=`); load "
                         f"it with load_model and preprocess the images yourself")
    return Classifier(model, preprocessing)


def load_training_state(path):
    """The training state saved in `path` (`save_model(..., training_state=...)`), or None when it holds none.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by `save_model`, e.g. by `Trainer` at its `checkpoint_path` or `model.npz` of a `train.py`
        run.

    Returns
    -------
    None or dict
        As saved, with its arrays back in place (tuples come back as lists).
    """
    path = _check_path(path)
    metadata, entries = _read_archive(path, (TRAINING_STATE_PREFIX,))
    _check_metadata(metadata, path)
    if TRAINING_STATE_KEY not in metadata:
        return None
    return join_tree(metadata[TRAINING_STATE_KEY], entries[TRAINING_STATE_PREFIX], path)


def is_checkpoint(path):
    """Whether `path` is a file holding a checkpoint of this package (of any format version): the only kind of file
    `save_model(..., overwrite=True)` replaces."""
    try:
        _read_archive(_check_path(path), ())
    except (NotACheckpointError, OSError):
        return False
    return True


def read_preprocessing(path):
    """The preprocessing saved in `path`: a dict of scalars and ndarrays, or None when the file holds none.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by `save_model`.
    """
    return _read_checkpoint(_check_path(path))[2]


class Classifier:
    """A model and the preprocessing it was trained with: class predictions from raw images.

    Parameters
    ----------
    model : ConvNet, or any model with `predict(X, batch_size)`, `input_shape` (height, width, channels) and
        `dtype`
    preprocessing : dict
        `scale` (a number > 0, default 1) and `mean_image` (float ndarray that broadcasts to
        (height, width, channels), default 0). The model's input is `images * scale - mean_image`, computed in
        the model's dtype exactly as `dataset.prepare_for_neural_network` computes it.

    Attributes
    ----------
    model, preprocessing
        As given.
    """

    KEYS = ("scale", "mean_image")

    def __init__(self, model, preprocessing):
        missing = [name for name in ("predict", "input_shape", "dtype") if not hasattr(model, name)]
        if missing:
            raise TypeError(f"`model` must have predict(), input_shape and dtype; {type(model).__name__} lacks "
                            f"{', '.join(missing)}")
        if not isinstance(preprocessing, dict):
            raise TypeError(f"`preprocessing` must be a dict, got {type(preprocessing).__name__}")
        unknown = [key for key in preprocessing if key not in self.KEYS]
        if unknown:
            raise ValueError(f"preprocessing entry `{unknown[0]}` is not one Classifier applies "
                             f"({', '.join(self.KEYS)})")
        self.model = model
        self.preprocessing = preprocessing
        self._input_shape = tuple(model.input_shape)
        self._dtype = np.dtype(model.dtype)
        self._scale = check_number(preprocessing.get("scale", 1.0), "preprocessing['scale']", minimum=0,
                                   strict_minimum=True)
        self._mean = self._check_mean(preprocessing.get("mean_image", np.zeros(1)))

    def preprocess(self, images):
        """Turn raw images into the model's input.

        Parameters
        ----------
        images : ndarray of shape (n, height, width, channels) or (height, width, channels)
            Pixel values in [0, 255], integers (e.g. uint8) or floats, as read from an image file or SVHN's
            `.mat`; not scaled, not mean-subtracted.

        Returns
        -------
        ndarray of shape (n, height, width, channels), of the model's dtype
            `images * scale - mean_image`; a single image becomes a batch of one.
        """
        images = self._check_images(images)
        X = np.multiply(images, self._scale, dtype=self._dtype)
        X -= self._mean
        return X

    def predict(self, images, batch_size=256):
        """Class index of each raw image: `model.predict(preprocess(images), batch_size)`.

        Parameters
        ----------
        images : ndarray of shape (n, height, width, channels) or (height, width, channels)
            Raw pixel values in [0, 255], see `preprocess`.
        batch_size : int
            Images per forward pass.

        Returns
        -------
        ndarray of shape (n,), int64 (n = 1 for a single image)
        """
        return self.model.predict(self.preprocess(images), batch_size=batch_size)

    def _check_mean(self, mean):
        name = "preprocessing['mean_image']"
        mean = check_finite(check_float_array(mean, name), name)
        try:
            fits = np.broadcast_shapes(mean.shape, self._input_shape) == self._input_shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"`{name}` must broadcast to the model's input shape {self._input_shape}, "
                             f"got shape {mean.shape}")
        return mean.astype(self._dtype)

    def _check_images(self, images):
        """Return `images` as an ndarray of shape (n, height, width, channels) of finite values in [0, 255]."""
        images = np.asarray(images)
        if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
            raise TypeError(f"`images` must hold pixel values 0..255 as integers or floats, got dtype {images.dtype}")
        if images.shape == self._input_shape:
            images = images[np.newaxis]
        if images.shape[1:] != self._input_shape or images.ndim != 4:
            raise ValueError(f"`images` must have shape (n, {', '.join(map(str, self._input_shape))}) or "
                             f"{self._input_shape}, got {images.shape}")
        if np.issubdtype(images.dtype, np.floating):
            check_finite(images, "images")
        if images.size and (images.min() < 0 or images.max() > 255):
            raise ValueError(f"`images` must hold raw pixel values in [0, 255], got values from {images.min():g} "
                             f"to {images.max():g}; pass the images before any scaling or mean subtraction")
        return images


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
    metadata, arrays, _ = _read_checkpoint(path)
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


def _load(path):
    """(ConvNet with the saved parameters, preprocessing dict or None) from the checkpoint `path`."""
    path = _check_path(path)
    metadata, arrays, preprocessing = _read_checkpoint(path)
    kind = metadata.get("model")
    if kind not in MODEL_BUILDERS:
        raise ValueError(f"{path} holds a {kind!r} model; load_model rebuilds only "
                         f"{' and '.join(MODEL_BUILDERS)} (use load_params with a model you build)")
    try:
        model = MODEL_BUILDERS[kind](metadata["config"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} holds an architecture {kind} cannot build ({metadata['config']}): "
                         f"{error}") from None
    _assign(model, arrays, path)
    return model, preprocessing


def _split_preprocessing(preprocessing):
    """Check `preprocessing` and split it into (JSON scalars, {key: ndarray})."""
    if not isinstance(preprocessing, dict):
        raise TypeError(f"`preprocessing` must be None or a dict of scalars and arrays, "
                        f"got {type(preprocessing).__name__}")
    scalars, arrays = {}, {}
    for key, value in preprocessing.items():
        if not isinstance(key, str) or not key or "/" in key:
            raise ValueError(f"`preprocessing` keys must be non-empty strings without '/', got {key!r}")
        name = f"preprocessing[{key!r}]"
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                raise TypeError(f"`{name}` must be an array of numbers, got dtype {value.dtype}")
            arrays[key] = value
        elif value is None or isinstance(value, (str, bool, numbers.Real)):
            value = value.item() if isinstance(value, np.generic) else value
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"`{name}` must be finite, got {value}")
            scalars[key] = value
        else:
            raise TypeError(f"`{name}` must be a number, str, bool, None or ndarray, got {type(value).__name__}")
    return scalars, arrays


def _read_checkpoint(path):
    """Return (metadata dict, {parameter name: array}, preprocessing dict or None) from `path`, turning every
    decoding failure into ValueError."""
    metadata, entries = _read_archive(path, (PARAM_PREFIX, BUFFER_PREFIX, PREPROCESSING_PREFIX))
    _check_metadata(metadata, path)
    arrays = {**entries[PARAM_PREFIX],
              **{BUFFER_PREFIX + name: array for name, array in entries[BUFFER_PREFIX].items()}}
    if PREPROCESSING_KEY not in metadata:
        return metadata, arrays, None
    if not isinstance(metadata[PREPROCESSING_KEY], dict):
        raise ValueError(f"{path} is not a readable model checkpoint: its `{PREPROCESSING_KEY}` entry must be an "
                         f"object, got {metadata[PREPROCESSING_KEY]!r}")
    return metadata, arrays, {**metadata[PREPROCESSING_KEY], **entries[PREPROCESSING_PREFIX]}


def _check_metadata(metadata, path):
    """Raise ValueError unless the metadata of the checkpoint `path` is of the version this code reads."""
    if metadata.get("version") != VERSION:
        raise ValueError(f"{path} is a checkpoint of format version {metadata.get('version')!r}; this code reads "
                         f"version {VERSION}")
    if not isinstance(metadata.get("config"), dict):
        raise ValueError(f"{path} has no architecture (`config`) in its `{METADATA_KEY}` entry")


def _read_archive(path, prefixes):
    """The metadata of the checkpoint `path` and, per prefix, {name without it: array} of its entries.

    Raises NotACheckpointError, naming the file and what it is, for anything but an .npz archive whose metadata
    says our format (a truncated or corrupt archive included); FileNotFoundError and the like when it cannot be
    opened.
    """
    # np.load given a path leaks the open file when the archive is truncated; given a file object, it cannot.
    with open(path, "rb") as file:
        head = file.read(8)
        if not head.startswith(ZIP_MAGIC):
            raise NotACheckpointError(path, _what_file(head))
        file.seek(0)
        try:
            with np.load(file, allow_pickle=False) as archive:
                metadata = _read_metadata(archive, path)
                return metadata, {prefix: {name[len(prefix):]: _entry(archive, name, path) for name in archive.files
                                           if name.startswith(prefix)} for prefix in prefixes}
        except NotACheckpointError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
            raise NotACheckpointError(path, f"a truncated or corrupt archive, or another kind of file ("
                                            f"{error})") from None


def _what_file(head):
    """Why a file starting with the bytes `head` is not a checkpoint: what it is, as far as they tell."""
    if not head:
        return "it is empty"
    kind = next((kind for magic, kind in FILE_KINDS if head.startswith(magic)), None)
    if kind is None:
        kind = "text (a CSV file, say)" if _is_text(head) else "another kind of file"
    return f"it is {kind}, not the .npz archive save_model writes"


def _is_text(head):
    return all(32 <= byte < 127 or byte in b"\t\n\r" for byte in head)


def _read_metadata(archive, path):
    """The metadata dict of the open `archive`, checked to be of our format."""
    if METADATA_KEY not in archive.files:
        raise NotACheckpointError(path, f"an .npz archive without the `{METADATA_KEY}` entry that save_model "
                                        f"writes (entries: {', '.join(archive.files[:8]) or 'none'})")
    try:
        metadata = json.loads(str(_entry(archive, METADATA_KEY, path)))
    except json.JSONDecodeError:
        metadata = None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise NotACheckpointError(path, f"its `{METADATA_KEY}` entry does not say format {FORMAT!r}")
    return metadata


def _entry(archive, name, path):
    """The array `name` of the open `archive`; never unpickles."""
    try:
        return archive[name]
    except ValueError as error:
        if "pickle" in str(error):
            raise NotACheckpointError(path, f"its entry `{name}` holds pickled Python objects, which a checkpoint of "
                                            f"this package never holds (not loaded: unpickling can run code)") from None
        raise


def _check_replaceable(path, overwrite):
    """Raise FileExistsError unless the existing file `path` is a checkpoint and `overwrite` is True."""
    if not is_checkpoint(path):
        raise FileExistsError(f"`path` {path!r} holds a file that is not a checkpoint of this package; save_model "
                              f"never replaces one, even with overwrite=True: choose another path or move it away")
    if not overwrite:
        raise FileExistsError(f"`path` {path!r} already holds a checkpoint; pass overwrite=True to replace it")


def _check_architecture(model_config, saved_config, path):
    model_config, saved_config = _architecture(model_config), _architecture(saved_config)
    for key in sorted(set(model_config) | set(saved_config)):
        if model_config.get(key) != saved_config.get(key):
            raise ValueError(f"{path} was saved from another architecture: {key}={saved_config.get(key)!r} in the "
                             f"file, {key}={model_config.get(key)!r} in the model")


def _architecture(config):
    """`config` without the entries that change neither the layout nor what is computed (in each layer too)."""
    kept = {key: value for key, value in config.items() if key not in _NOT_ARCHITECTURE}
    if isinstance(kept.get("layers"), list):
        kept["layers"] = [[name, kind, {key: value for key, value in arguments.items() if key != "dtype"}]
                          if isinstance(arguments, dict) else [name, kind, arguments]
                          for name, kind, arguments in kept["layers"]]
    return kept


def _kind_and_name(key):
    """('buffer', name) for a key `buffers/<name>`, else ('parameter', key)."""
    return ("buffer", key[len(BUFFER_PREFIX):]) if key.startswith(BUFFER_PREFIX) else ("parameter", key)


def _buffers(model):
    buffers = getattr(model, "buffers", None)
    return buffers() if callable(buffers) else {}


def _assign(model, arrays, path):
    """Check every saved array against the model's parameters and buffers, then assign them all.

    `arrays` holds parameters under their names and buffers under `buffers/<name>`.
    """
    params = model.params()
    expected = {**{name: param.value for name, param in params.items()},
                **{BUFFER_PREFIX + name: buffer for name, buffer in _buffers(model).items()}}
    for name, value in expected.items():
        kind, short = _kind_and_name(name)
        if name not in arrays:
            held = ", ".join(sorted(arrays)) or "none"
            raise ValueError(f"{path} has no {kind} `{short}` (it holds {held})")
        array = arrays[name]
        if array.shape != np.shape(value):
            raise ValueError(f"{kind} `{short}` in {path} has shape {array.shape}, the model's has "
                             f"{np.shape(value)}")
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"{kind} `{short}` in {path} has dtype {array.dtype}, expected floats")
    extra = sorted(set(arrays) - set(expected))
    if extra:
        kind, short = _kind_and_name(extra[0])
        raise ValueError(f"{path} has {kind} `{short}` that the model lacks: it was saved from another "
                         f"architecture")
    for name, param in params.items():
        param.value = arrays[name].astype(param.value.dtype)
    for name, buffer in _buffers(model).items():
        buffer[...] = arrays[BUFFER_PREFIX + name]
