"""The models: `Sequential` (any list of layers), the factories `lenet` and `vgg`, and the assignment's `ConvNet`.

`ConvNet` is a `Sequential` of fixed layers: its forward, loss, gradients, predictions and parameters are
Sequential's, under the assignment's names (conv1_W, conv1_B, conv2_W, conv2_B, fc_W, fc_B).
"""
import json
import numbers

import numpy as np

import layers as layer_module
from layers import l2_regularization, softmax_with_cross_entropy
from validation import (
    check_dtype,
    check_finite,
    check_float_array,
    check_images,
    check_int,
    check_labels,
    check_number,
    check_rng,
)

# Name prefixes of the package's layer types; a layer of another type is named after its class.
PREFIXES = {
    "ConvolutionalLayer": "conv", "ReLULayer": "relu", "TanhLayer": "tanh", "BatchNormalization": "bn",
    "MaxPoolingLayer": "pool", "AveragePoolingLayer": "avgpool", "GlobalAveragePooling": "gap",
    "Dropout": "drop", "Flattener": "flatten", "FullyConnectedLayer": "fc",
}
LAYER_PROTOCOL = ("forward", "backward", "params")
# Variance 1 / (3 fan_in) for the output layer (PyTorch's nn.Linear), as ConvNet's: the loss starts near ln(classes).
OUTPUT_GAIN = 1 / 3
# ConvNet's two max poolings: 4x4 windows, stride 4.
POOL = 4
# build_model's architectures by name, and their defaults.
ARCHS = ("convnet", "lenet", "vgg")
ARCH = "convnet"
CONV1_CHANNELS = 16
CONV2_CHANNELS = 32
WIDTHS = (32, 64, 128)
DROPOUT = 0.0
ACTIVATION = "relu"
# The settings of build_model that only some architectures read; the others ignore them.
ARCH_SETTINGS = {"conv1": ("convnet",), "conv2": ("convnet",), "widths": ("vgg",), "dropout": ("vgg",),
                 "activation": ("lenet",)}


class Sequential:
    """Layers applied one after the other; the loss is the softmax cross-entropy of the last layer's scores.

    Parameters
    ----------
    layers : list of layers, or of (name, layer) pairs
        Each layer has `forward(X)`, `backward(d_out)` and `params()`. Unnamed layers are named after their type
        and their position among the layers of that type: conv1, conv2, relu1, bn1, pool1, drop1, fc1, ...
        Names must be unique, non-empty and free of '/' (they become keys of checkpoint files).
    reg : float, keyword-only
        Strength of the L2 penalty `reg * sum(W**2)` over every parameter whose name ends in `_W`.
    input_shape : None or tuple, keyword-only
        The shape of one input sample, e.g. (32, 32, 3). When given, the layers are checked to fit it at once (a
        wrongly sized fully connected layer is a ValueError naming it) and inputs of another shape are refused.

    Attributes
    ----------
    layers : dict of name -> layer, in order
    training : bool
        The mode last set by `train()` / `eval()`; layers with a `training` attribute follow it.
    input_shape : tuple or None
    dtype : numpy dtype of the first parameter (None without parameters)
    """

    def __init__(self, layers, *, reg=0.0, input_shape=None):
        self.layers = _name_layers(layers)
        self.reg = check_number(reg, "reg", minimum=0)
        self.input_shape = None if input_shape is None else _check_sample_shape(input_shape)
        if self.input_shape is not None:
            _n_classes(self.output_shape(self.input_shape))
        self.training = True
        first = next(iter(self.layers.values()))
        if hasattr(first, "compute_input_grad"):
            first.compute_input_grad = False    # nothing before the first layer needs its input gradient

    @property
    def dtype(self):
        first = next(iter(self.params().values()), None)
        return None if first is None else first.value.dtype

    def train(self):
        """Training mode (batch statistics, dropout on) for every layer that has one; returns the model."""
        return self._set_mode(True)

    def eval(self):
        """Evaluation mode (running statistics, dropout off) for every layer that has one; returns the model."""
        return self._set_mode(False)

    def params(self):
        """Every parameter as `{f"{layer_name}_{param_name}": Param}`, e.g. conv1_W, bn1_gamma, fc1_B."""
        return {f"{layer_name}_{param_name}": param
                for layer_name, layer in self.layers.items()
                for param_name, param in layer.params().items()}

    def buffers(self):
        """Every non-trainable state array as `{f"{layer_name}_{buffer_name}": ndarray}`, e.g. bn1_running_mean."""
        return {f"{layer_name}_{buffer_name}": buffer
                for layer_name, layer in self.layers.items() if callable(getattr(layer, "buffers", None))
                for buffer_name, buffer in layer.buffers().items()}

    def output_shape(self, input_shape):
        """Shape of the scores for one sample of shape `input_shape` (no batch axis), e.g. (32, 32, 3) -> (10,).

        Raises ValueError naming the first layer that cannot take the shape it would receive.
        """
        shape = tuple(input_shape)
        for name, layer in self.layers.items():
            if not callable(getattr(layer, "output_shape", None)):
                return None
            try:
                shape = tuple(layer.output_shape(shape))
            except ValueError as error:
                raise ValueError(f"layer `{name}` cannot take input of shape {shape}: {error}") from None
        return shape

    def forward(self, X):
        """Scores of shape (batch, n_classes) for X of shape (batch, ...) in the current mode."""
        X = self._check_X(X)
        for layer in self.layers.values():
            X = layer.forward(X)
        return X

    def compute_loss_and_gradients(self, X, y):
        """Forward and backward pass on one batch; zeroes every gradient first, then fills them.

        Parameters
        ----------
        X : ndarray of shape (batch, ...), float32 or float64, finite; the shape the first layer takes
        y : int array of shape (batch,), class indices in [0, n_classes)

        Returns
        -------
        float, the mean cross-entropy loss over the batch (plus the L2 penalty)
        """
        X = self._check_X(X)
        if X.shape[0] == 0:
            raise ValueError(f"`X` must hold at least one sample, got shape {X.shape}")
        scores_shape = self.output_shape(X.shape[1:])
        if scores_shape is not None:
            y = check_labels(y, "y", _n_classes(scores_shape), length=X.shape[0])
        return loss_and_gradients(list(self.layers.values()), self.params(), X, y, self.reg)

    def predict(self, X, batch_size=256):
        """Class index of the highest score for each sample, in evaluation mode (the mode found is put back).

        Parameters
        ----------
        X : ndarray of shape (batch, ...), float32 or float64, finite
        batch_size : int
            Samples per forward pass; bounds the memory used on large inputs.

        Returns
        -------
        ndarray of shape (batch,), int64
        """
        X = self._check_X(X)
        batch_size = check_int(batch_size, "batch_size", 1)
        was_training = self.training
        self.eval()
        try:
            predictions = np.empty(X.shape[0], dtype=np.int64)
            for start in range(0, X.shape[0], batch_size):
                predictions[start:start + batch_size] = self.forward(X[start:start + batch_size]).argmax(axis=1)
        finally:
            self._set_mode(was_training)
        return predictions

    def config(self):
        """What rebuilds this model (`Sequential.from_config(model.config())`); used by `checkpoint.save_model`.

        Every layer must have a `config()` method; a layer of the package always has one.
        """
        specs = []
        for name, layer in self.layers.items():
            layer_config = getattr(layer, "config", None)
            if not callable(layer_config) or _layer_class(type(layer).__name__) is not type(layer):
                raise TypeError(f"layer `{name}` ({type(layer).__name__}) cannot be described for a checkpoint: "
                                f"only the layers of layers.py can; save it with load_params instead")
            specs.append([name, type(layer).__name__, layer_config()])
        return {"layers": specs, "reg": self.reg,
                "input_shape": None if self.input_shape is None else list(self.input_shape)}

    @classmethod
    def from_config(cls, config):
        """Build a Sequential from `config()`'s output, with freshly initialised parameters."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError(f"`config` must be a dict with a list under 'layers', got {config!r:.200}")
        built = []
        for spec in config["layers"]:
            if not (isinstance(spec, (list, tuple)) and len(spec) == 3 and isinstance(spec[2], dict)):
                raise ValueError(f"`config` layers must be [name, type, arguments] triples, got {spec!r:.200}")
            name, type_name, arguments = spec
            layer_class = _layer_class(type_name)
            if layer_class is None:
                raise ValueError(f"`config` names an unknown layer type {type_name!r}")
            built.append((name, layer_class(**arguments)))
        return cls(built, reg=config.get("reg", 0.0), input_shape=config.get("input_shape"))

    def _set_mode(self, training):
        self.training = bool(training)
        for layer in self.layers.values():
            if hasattr(layer, "training"):
                layer.training = self.training
        return self

    def _check_X(self, X):
        X = check_float_array(X, "X")
        if X.ndim < 2:
            raise ValueError(f"`X` must be a batch of samples, (batch, ...), got shape {X.shape}")
        if self.input_shape is not None and X.shape[1:] != self.input_shape:
            raise ValueError(f"`X` must have shape (batch, {', '.join(map(str, self.input_shape))}), got {X.shape}")
        return check_finite(X, "X")


def loss_and_gradients(layers, params, X, y, reg):
    """One training pass through `layers` in order: zero every gradient, forward, softmax cross-entropy, backward.

    Parameters
    ----------
    layers : list of layers
    params : dict of name -> Param
        Every parameter of the layers; those named `*_W` get the L2 penalty `reg * sum(W**2)`.
    X : ndarray of shape (batch, ...), checked by the caller
    y : int ndarray of shape (batch,), checked by the caller
    reg : float >= 0

    Returns
    -------
    float, the mean cross-entropy over the batch plus the penalty; every `Param.grad` holds its gradient
    """
    for param in params.values():
        param.zero_grad()
    scores = X
    for layer in layers:
        scores = layer.forward(scores)
    loss, d_out = softmax_with_cross_entropy(scores, y)
    for layer in reversed(layers):
        d_out = layer.backward(d_out)
    if reg > 0:
        for name, param in params.items():
            if name.endswith("_W"):
                reg_loss, reg_grad = l2_regularization(param.value, reg)
                loss += reg_loss
                param.grad += reg_grad
    return float(loss)


def _name_layers(layers):
    """`{name: layer}` from a list of layers or (name, layer) pairs, unnamed ones named by type and position."""
    if isinstance(layers, (str, bytes, dict)) or not hasattr(layers, "__iter__"):
        raise TypeError(f"`layers` must be a list of layers or of (name, layer) pairs, got {type(layers).__name__}")
    layers = list(layers)
    if not layers:
        raise ValueError("`layers` must hold at least one layer, got an empty list")
    counts, named, seen = {}, {}, {}
    for index, item in enumerate(layers):
        is_pair = isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)
        name, layer = item if is_pair else (None, item)
        missing = [method for method in LAYER_PROTOCOL if not callable(getattr(layer, method, None))]
        if missing:
            raise TypeError(f"`layers[{index}]` must be a layer with forward, backward and params, got "
                            f"{type(layer).__name__} without {', '.join(missing)}")
        if id(layer) in seen:
            first_index, first_name = seen[id(layer)]
            raise ValueError(f"`layers[{index}]` is the same object as `layers[{first_index}]` ({first_name}): a "
                             "layer keeps its last input for backward, so each position needs a layer of its own "
                             "(weight sharing is not supported)")
        if name is None:
            prefix = _prefix(type(layer).__name__)
            counts[prefix] = counts.get(prefix, 0) + 1
            name = f"{prefix}{counts[prefix]}"
        if not name or "/" in name:
            raise ValueError(f"`layers[{index}]` name must be non-empty and free of '/', got {name!r}")
        if name in named:
            raise ValueError(f"`layers[{index}]` name {name!r} is already taken by another layer; names must be unique")
        named[name] = layer
        seen[id(layer)] = index, name
    _check_no_shared_params(named, {name: index for index, name in seen.values()})
    return named


def _check_no_shared_params(named, indices):
    """Refuse one Param object in two layers: it would get two entries in `params()` and two optimizers."""
    owners = {}
    for name, layer in named.items():
        for param_name, param in layer.params().items():
            if id(param) in owners:
                owner, owner_param = owners[id(param)]
                shared = param_name if param_name == owner_param else f"{param_name} ({owner}'s {owner_param})"
                raise ValueError(f"`layers[{indices[name]}]` ({name}) shares its parameter {shared} with {owner}: "
                                 "weight sharing is not supported, give each layer parameters of its own")
            owners[id(param)] = name, param_name


def _check_sample_shape(input_shape):
    if not isinstance(input_shape, (tuple, list)) or not input_shape:
        raise ValueError(f"`input_shape` must be the shape of one sample, e.g. (32, 32, 3), got {input_shape!r}")
    return tuple(check_int(size, "input_shape", 1) for size in input_shape)


def _prefix(type_name):
    if type_name in PREFIXES:
        return PREFIXES[type_name]
    return type_name.lower().removesuffix("layer") or type_name.lower()


def _layer_class(type_name):
    """The package's layer class called `type_name`, or None."""
    layer_class = getattr(layer_module, type_name, None)
    return layer_class if type_name in PREFIXES and isinstance(layer_class, type) else None


def _n_classes(scores_shape):
    if len(scores_shape) != 1 or not isinstance(scores_shape[0], numbers.Integral):
        raise ValueError(f"the last layer must give scores of shape (batch, n_classes), got (batch, "
                         f"{', '.join(map(str, scores_shape))})")
    return scores_shape[0]


def lenet(input_shape=(32, 32, 3), n_output_classes=10, *, activation="relu", dtype=np.float64, seed=None):
    """LeNet-5 for colour images, as a `Sequential`.

    Layers (names in brackets), for the default 32x32x3 input:
    conv 5x5 -> 6 channels, no padding [conv1]: 28x28x6; activation [relu1 or tanh1]; max pool 2 [pool1]: 14x14x6;
    conv 5x5 -> 16 [conv2]: 10x10x16; activation; max pool 2 [pool2]: 5x5x16; flatten [flatten1]: 400;
    fully connected 120 [fc1]; activation; fully connected 84 [fc2]; activation;
    fully connected n_output_classes [fc3].

    Parameters
    ----------
    input_shape : (height, width, channels), height and width at least 16
    n_output_classes : int >= 2
    activation : {'relu', 'tanh'}, keyword-only
        'tanh' gives the original LeNet; weights are He-scaled for ReLU and LeCun-scaled for tanh.
    dtype : float32 or float64, keyword-only
    seed : None, int or numpy.random.Generator, keyword-only
    """
    height, width, channels = _check_input_shape(input_shape, minimum=16)
    n_output_classes = check_int(n_output_classes, "n_output_classes", 2)
    if activation not in ACTIVATIONS:
        raise ValueError(f"`activation` must be one of {', '.join(map(repr, ACTIVATIONS))}, got {activation!r}")
    rng = check_rng(seed)
    act, gain = ACTIVATIONS[activation]
    flat = ((height - 4) // 2 - 4) // 2 * (((width - 4) // 2 - 4) // 2) * 16
    stack = [
        layer_module.ConvolutionalLayer(channels, 6, 5, 0, dtype=dtype, seed=rng, gain=gain), act(),
        layer_module.MaxPoolingLayer(2, 2),
        layer_module.ConvolutionalLayer(6, 16, 5, 0, dtype=dtype, seed=rng, gain=gain), act(),
        layer_module.MaxPoolingLayer(2, 2),
        layer_module.Flattener(),
        layer_module.FullyConnectedLayer(flat, 120, dtype=dtype, seed=rng, gain=gain), act(),
        layer_module.FullyConnectedLayer(120, 84, dtype=dtype, seed=rng, gain=gain), act(),
        layer_module.FullyConnectedLayer(84, n_output_classes, dtype=dtype, seed=rng, gain=OUTPUT_GAIN),
    ]
    return Sequential(stack, input_shape=(height, width, channels))


def vgg(input_shape=(32, 32, 3), n_output_classes=10, widths=(32, 64, 128), *, dropout=0.0, dtype=np.float64,
        seed=None):
    """A small VGG-style network with batch normalization, as a `Sequential`.

    Layers (names in brackets): for each width w of `widths` (block b = 1, 2, ...), twice
    conv 3x3 -> w channels, padding 1 [conv] -> BatchNorm [bn] -> ReLU [relu], then max pool 2 [pool<b>], which
    halves height and width; then flatten [flatten1] (every position of the last feature map feeds the classifier,
    where a global average would lose where a stroke is), dropout with probability `dropout` [drop1], and
    fully connected n_output_classes [fc1]. The default on 32x32x3: 32x32x32, 16x16x64, 8x8x128, pooled to
    4x4x128 = 2048 features.

    Parameters
    ----------
    input_shape : (height, width, channels), height and width at least 2 ** len(widths)
    n_output_classes : int >= 2
    widths : sequence of int
        Channels of each block's two convolutions.
    dropout : float in [0, 1), keyword-only
    dtype : float32 or float64, keyword-only
    seed : None, int or numpy.random.Generator, keyword-only
        Source of the weights and of the dropout masks.
    """
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or len(widths) == 0:
        raise ValueError(f"`widths` must be a non-empty sequence of channel counts, got {widths!r}")
    widths = [check_int(width, "widths", 1) for width in widths]
    height, width, channels = _check_input_shape(input_shape, minimum=2 ** len(widths))
    n_output_classes = check_int(n_output_classes, "n_output_classes", 2)
    dropout = check_number(dropout, "dropout", minimum=0, maximum=1)
    if dropout >= 1:
        raise ValueError(f"`dropout` must be a probability in [0, 1), got {dropout}")
    rng = check_rng(seed)
    input_shape = (height, width, channels)
    stack = []
    for out_channels in widths:
        for _ in range(2):
            stack += [layer_module.ConvolutionalLayer(channels, out_channels, 3, 1, dtype=dtype, seed=rng),
                      layer_module.BatchNormalization(out_channels, dtype=dtype),
                      layer_module.ReLULayer()]
            channels = out_channels
        stack.append(layer_module.MaxPoolingLayer(2, 2))
        height, width = height // 2, width // 2
    stack += [layer_module.Flattener(), layer_module.Dropout(dropout, seed=rng),
              layer_module.FullyConnectedLayer(height * width * channels, n_output_classes, dtype=dtype, seed=rng,
                                               gain=OUTPUT_GAIN)]
    return Sequential(stack, input_shape=input_shape)


def _check_input_shape(input_shape, minimum, why="for this network"):
    """(height, width, channels) from `input_shape`, height and width at least `minimum` (`why` says why)."""
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (height, width, channels), got {input_shape!r}")
    height, width, channels = (check_int(size, "input_shape", 1) for size in input_shape)
    if height < minimum or width < minimum:
        raise ValueError(f"`input_shape` height and width must be at least {minimum} {why}, got {height}x{width}")
    return height, width, channels


# activation name -> (layer class, weight gain for the layers it follows)
ACTIVATIONS = {"relu": (layer_module.ReLULayer, 2.0), "tanh": (layer_module.TanhLayer, 1.0)}


class ConvNet(Sequential):
    """Conv 3x3 -> ReLU -> MaxPool 4x4 -> Conv 3x3 -> ReLU -> MaxPool 4x4 -> Flatten -> FullyConnected.

    The loss is the softmax cross-entropy of the last layer's scores (plus an optional L2 penalty on the weights).

    Parameters
    ----------
    input_shape : (height, width, channels)
        Shape of one image, e.g. (32, 32, 3); height and width at least 16 (two 4x4 poolings).
    n_output_classes : int
    conv1_channels, conv2_channels : int
        Output channels of the two convolutions.
    reg : float, keyword-only
        Strength of the L2 penalty on the weights (not the biases); 0 turns it off.
    dtype : float32 or float64, keyword-only
        Dtype of every parameter and of the computation.
    seed : None, int or numpy.random.Generator, keyword-only
        Source of the initial weights; the same seed gives the same model.
    """

    def __init__(self, input_shape, n_output_classes, conv1_channels, conv2_channels, *, reg=0.0,
                 dtype=np.float64, seed=None):
        input_shape = _check_input_shape(input_shape, POOL * POOL, f"for two {POOL}x{POOL} poolings")
        self.n_output_classes = check_int(n_output_classes, "n_output_classes", 2)
        self.conv1_channels = check_int(conv1_channels, "conv1_channels", 1)
        self.conv2_channels = check_int(conv2_channels, "conv2_channels", 1)
        dtype = check_dtype(dtype)
        rng = check_rng(seed)

        height, width, channels = input_shape
        pooled_height, pooled_width = height // POOL // POOL, width // POOL // POOL
        super().__init__([
            ("conv1", layer_module.ConvolutionalLayer(channels, conv1_channels, 3, 1, dtype=dtype, seed=rng)),
            ("relu1", layer_module.ReLULayer()),
            ("pool1", layer_module.MaxPoolingLayer(POOL, POOL)),
            ("conv2", layer_module.ConvolutionalLayer(conv1_channels, conv2_channels, 3, 1, dtype=dtype, seed=rng)),
            ("relu2", layer_module.ReLULayer()),
            ("pool2", layer_module.MaxPoolingLayer(POOL, POOL)),
            ("flatten", layer_module.Flattener()),
            # Variance 1 / (3 * fan_in), PyTorch's nn.Linear default: the pooled ReLU features are large and
            # positive, so LeCun's 1 / fan_in would start at a loss of 2.6-3.0 instead of about ln 10.
            ("fc", layer_module.FullyConnectedLayer(pooled_height * pooled_width * conv2_channels, n_output_classes,
                                                    dtype=dtype, seed=rng, gain=1 / 3)),
        ], reg=reg, input_shape=input_shape)

    def config(self):
        """The constructor arguments that rebuild this architecture: `ConvNet(**model.config())`."""
        return {"input_shape": self.input_shape, "n_output_classes": self.n_output_classes,
                "conv1_channels": self.conv1_channels, "conv2_channels": self.conv2_channels,
                "reg": self.reg, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config):
        """Build a ConvNet from `config()`'s output, with freshly initialised parameters."""
        return cls(**config)

    def _check_X(self, X):
        """X as images of this model's shape: a wrong channel count is named as such (NHWC)."""
        X = check_images(X, "X", self.input_shape[2])
        if X.shape[1:] != self.input_shape:
            raise ValueError(f"`X` must have shape (batch, {', '.join(map(str, self.input_shape))}), got {X.shape}")
        return check_finite(X, "X")


def build_model(arch=ARCH, input_shape=(32, 32, 3), n_classes=10, *, conv1=None, conv2=None, widths=None,
                dropout=None, activation=None, reg=0.0, dtype=np.float32, seed=None):
    """A new model of the architecture `arch`, from the arguments train.py and search.py take.

    Parameters
    ----------
    arch : {'convnet', 'lenet', 'vgg'}
        `model.ConvNet`, `model.lenet()` or `model.vgg()`.
    input_shape : (height, width, channels)
    n_classes : int
    conv1, conv2 : None or int
        'convnet': channels of its two convolutions (None: 16 and 32).
    widths : None or sequence of int
        'vgg': channels of each block (None: 32, 64, 128).
    dropout : None or float in [0, 1)
        'vgg': dropout before the classifier (None: 0).
    activation : None or {'relu', 'tanh'}
        'lenet': its activation (None: 'relu').
    reg : float >= 0
        L2 strength on the weights (`reg * sum(W**2)` over every `*_W` parameter).
    dtype : float32 or float64
    seed : None, int or numpy.random.Generator
        Source of the initial weights (and vgg's dropout masks).

    Settings that `arch` does not read (see ARCH_SETTINGS) are ignored, as `momentum` is by optimizers without
    momentum; `train.py` and `search.py` refuse them before calling this.

    Returns
    -------
    ConvNet or Sequential
    """
    if arch not in ARCHS:
        raise ValueError(f"`arch` must be one of {', '.join(ARCHS)}, got {arch!r}")
    if arch == "convnet":
        return ConvNet(input_shape, n_classes, CONV1_CHANNELS if conv1 is None else conv1,
                       CONV2_CHANNELS if conv2 is None else conv2, reg=reg, dtype=dtype, seed=seed)
    if arch == "lenet":
        model = lenet(input_shape, n_classes, activation=ACTIVATION if activation is None else activation,
                      dtype=dtype, seed=seed)
    else:
        model = vgg(input_shape, n_classes, WIDTHS if widths is None else widths,
                    dropout=DROPOUT if dropout is None else dropout, dtype=dtype, seed=seed)
    # The factories take no L2 strength; Sequential does.
    return Sequential(list(model.layers.items()), reg=reg, input_shape=model.input_shape)


def model_arguments(model):
    """The `build_model` arguments that give `model`'s architecture, or None when none do.

    Parameters
    ----------
    model : ConvNet or Sequential, e.g. from `checkpoint.load_model`

    Returns
    -------
    dict or None
        {'arch': 'convnet', 'conv1': int, 'conv2': int}, {'arch': 'lenet', 'activation': str} or
        {'arch': 'vgg', 'widths': tuple of int, 'dropout': float}: `build_model(**arguments, input_shape=...,
        n_classes=..., dtype=..., reg=...)` builds a model of the same config (same layers, same sizes), with new
        weights.
    """
    if isinstance(model, ConvNet):
        return {"arch": "convnet", "conv1": model.conv1_channels, "conv2": model.conv2_channels}
    if not isinstance(model, Sequential) or model.input_shape is None:
        return None
    config = _as_json(model.config())
    layers = config["layers"]
    widths = tuple(arguments["out_channels"] for _, kind, arguments in layers if kind == "ConvolutionalLayer")[::2]
    dropouts = [arguments["p"] for _, kind, arguments in layers if kind == "Dropout"]
    candidates = [{"arch": "lenet", "activation": name} for name in ACTIVATIONS]
    candidates.append({"arch": "vgg", "widths": widths, "dropout": dropouts[0] if dropouts else DROPOUT})
    n_classes = model.output_shape(model.input_shape)[0]
    for arguments in candidates:
        try:
            built = build_model(**arguments, input_shape=model.input_shape, n_classes=n_classes, reg=model.reg,
                                dtype=model.dtype)
        except (TypeError, ValueError):
            continue
        if _as_json(built.config()) == config:
            return arguments
    return None


def _as_json(value):
    """`value` as it comes back from JSON (tuples become lists), to compare configs."""
    return json.loads(json.dumps(value))
