"""The workloads bench/run.py times: our networks and their PyTorch twins, checked to compute the same, and the
textbook per-pixel convolution.

- the assignment's ConvNet (`make_model`, `our_step`: loss, gradients and an SGD update) and `torch_model`, an
  `nn.Sequential` on NCHW tensors with its weights (`to_torch_layout`), checked by `check_equivalence`;
- `lenet()` / `vgg()` (`make_sequential`, `momentum_step`) and `torch_sequential`, the torch module of any of our
  `Sequential`s layer for layer with its weights and running statistics (`torch_state`), checked by
  `check_sequential_equivalence` over a few momentum steps;
- `conv_backward_loop`, the gradients of the plain-loop convolution (`selfcheck.oracles.convolution`), one
  output pixel at a time.

torch is optional (requirements-bench.txt): without it only our side can be built.
"""
from collections import OrderedDict

import numpy as np

import layers
from model import ConvNet, lenet, vgg
from optim import SGD, MomentumSGD

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch is optional: requirements-bench.txt
    torch = None

IMAGE_SHAPE = (32, 32, 3)
N_CLASSES = 10
LEARNING_RATE = 1e-3
MOMENTUM = 0.9
SEED = 0
MODELS = {"lenet": lenet, "vgg": vgg}
EQUIVALENCE_TOL = 1e-5  # ConvNet: loss, and gradients relative to their largest entry (at least 1)
MODEL_EQUIVALENCE_RTOL = 1e-6
# Plus this absolute error: the bias of a convolution followed by BatchNorm has a gradient of exactly zero,
# which both compute as rounding noise.
MODEL_EQUIVALENCE_ATOL = 1e-12
EQUIVALENCE_STEPS = 3


def make_batch(batch, dtype, seed=SEED):
    """Random images X of shape (batch, 32, 32, 3) in `dtype` and labels y of shape (batch,)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, *IMAGE_SHAPE)).astype(dtype), rng.integers(N_CLASSES, size=batch)


def make_model(config, dtype):
    """The ConvNet with channel pair `config` = (conv1_channels, conv2_channels), seeded."""
    return ConvNet(IMAGE_SHAPE, N_CLASSES, *config, dtype=dtype, seed=SEED)


def our_step(model, X, y):
    """One training step: loss and gradients, then `value - LEARNING_RATE * grad` for every parameter."""
    loss = model.compute_loss_and_gradients(X, y)
    for param in model.params().values():
        param.value = SGD().update(param.value, param.grad, LEARNING_RATE)
    return loss


def torch_model(model):
    """An `nn.Sequential` computing what `model` computes, on NCHW tensors, with `model`'s weights copied."""
    nn = torch.nn
    named = model.layers
    conv1, conv2, pool1, pool2 = named["conv1"], named["conv2"], named["pool1"], named["pool2"]
    net = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(model.input_shape[2], model.conv1_channels, conv1.filter_size, padding=conv1.padding),
        relu1=nn.ReLU(),
        pool1=nn.MaxPool2d(pool1.pool_size, pool1.stride),
        conv2=nn.Conv2d(model.conv1_channels, model.conv2_channels, conv2.filter_size, padding=conv2.padding),
        relu2=nn.ReLU(),
        pool2=nn.MaxPool2d(pool2.pool_size, pool2.stride),
        flatten=nn.Flatten(),
        fc=nn.Linear(*named["fc"].W.value.shape),
    )).to(torch_dtype(model.dtype))
    values = {name: param.value for name, param in model.params().items()}
    net.load_state_dict(to_torch_layout(values, model.conv2_channels))
    return net


def to_torch_layout(arrays, conv2_channels):
    """Our parameter arrays, keyed like `ConvNet.params()`, as the state dict of `torch_model`.

    Conv weights go from (k, k, in_channels, out_channels) to (out_channels, in_channels, k, k). Our Flattener
    flattens NHWC and torch's NCHW, so the rows of the FC weight are permuted from (h, w, c) to (c, h, w) order.
    """
    fc_W = arrays["fc_W"].reshape(-1, conv2_channels, arrays["fc_W"].shape[1])  # (h*w*c, n_out) -> (h*w, c, n_out)
    fc_W = fc_W.transpose(2, 1, 0).reshape(fc_W.shape[2], -1)  # -> (n_out, c, h*w) -> (n_out, c*h*w)
    torch_arrays = {
        "conv1.weight": arrays["conv1_W"].transpose(3, 2, 0, 1), "conv1.bias": arrays["conv1_B"],
        "conv2.weight": arrays["conv2_W"].transpose(3, 2, 0, 1), "conv2.bias": arrays["conv2_B"],
        "fc.weight": fc_W, "fc.bias": arrays["fc_B"][0],
    }
    return {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in torch_arrays.items()}


def torch_step(net, optimizer, x, y):
    """One torch training step: forward, mean cross-entropy, backward, `optimizer.step()`."""
    optimizer.zero_grad()
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    optimizer.step()
    return loss


def check_equivalence(config, batch=16):
    """Raise RuntimeError unless `torch_model` gives our loss and gradients in float64, to `EQUIVALENCE_TOL`.

    Gradients are compared relative to the largest entry of each (at least 1).
    """
    model = make_model(config, np.float64)
    net = torch_model(model)
    X, y = make_batch(batch, np.float64)
    ours = model.compute_loss_and_gradients(X, y)
    theirs = F.cross_entropy(net(to_torch(X)), torch.from_numpy(y))
    theirs.backward()
    if abs(ours - theirs.item()) > EQUIVALENCE_TOL:
        raise RuntimeError(f"the torch model of {config} is not ours: loss {theirs.item()!r} vs ours {ours!r}")
    our_grads = to_torch_layout({name: param.grad for name, param in model.params().items()},
                                model.conv2_channels)
    for name, param in net.named_parameters():
        error = (param.grad - our_grads[name]).abs().max().item()
        if error > EQUIVALENCE_TOL * max(1.0, our_grads[name].abs().max().item()):
            raise RuntimeError(f"the torch model of {config} is not ours: gradient of {name} differs by {error:.3g}")


def make_sequential(name, dtype):
    """`lenet()` or `vgg()` (by `name`) for 32x32x3 images and 10 classes in `dtype`, seeded."""
    return MODELS[name](IMAGE_SHAPE, N_CLASSES, dtype=dtype, seed=SEED)


def momentum_step(model):
    """A function `step(X, y) -> loss`: one training step of `model` with SGD with momentum.

    `compute_loss_and_gradients`, then each parameter updated by its own `MomentumSGD(MOMENTUM)` at
    `LEARNING_RATE`, as `Trainer` does.
    """
    optimizers = {name: MomentumSGD(MOMENTUM) for name in model.params()}

    def step(X, y):
        loss = model.compute_loss_and_gradients(X, y)
        for name, param in model.params().items():
            param.value = optimizers[name].update(param.value, param.grad, LEARNING_RATE)
        return loss
    return step


def torch_sequential(model, input_shape=IMAGE_SHAPE):
    """The `torch.nn.Sequential` computing what the `Sequential` `model` computes, on NCHW tensors.

    One module per layer, under the layer's name: Conv2d, BatchNorm2d (BatchNorm1d after a flatten) with the
    layer's momentum and eps, ReLU, Tanh, MaxPool2d, AvgPool2d, Dropout, Flatten, Linear. `model`'s parameters and
    running statistics are copied (`torch_state`); `input_shape` is the shape of one sample.
    """
    modules, flat = OrderedDict(), False
    for name, layer in model.layers.items():
        modules[name] = _torch_module(layer, flat)
        flat = flat or isinstance(layer, (layers.Flattener, layers.GlobalAveragePooling))
    net = torch.nn.Sequential(modules).to(torch_dtype(model.dtype))
    arrays = {**{name: param.value for name, param in model.params().items()}, **model.buffers()}
    state = {key: torch.from_numpy(array) for key, array in torch_state(model, arrays, input_shape).items()}
    result = net.load_state_dict(state, strict=False)
    missing = [key for key in result.missing_keys if not key.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise RuntimeError(f"torch_sequential could not copy the weights: missing {missing}, unexpected "
                           f"{result.unexpected_keys}")
    return net


def torch_state(model, arrays, input_shape=IMAGE_SHAPE):
    """`arrays` keyed like `model.params()` and `model.buffers()` (conv1_W, bn1_running_mean, ...), as the entries of
    `torch_sequential(model)`'s state dict (conv1.weight, bn1.running_mean, ...), contiguous ndarrays.

    Conv weights go from (k, k, in_channels, out_channels) to (out_channels, in_channels, k, k), fc weights from
    (n_input, n_output) to (n_output, n_input) and fc biases from (1, n_output) to (n_output,); BatchNorm's gamma
    and beta become weight and bias. Our Flattener flattens (height, width, channels), torch's (channels, height,
    width): after it the fc weight rows (and a BatchNorm's statistics) are put in torch's order.
    """
    state, order = {}, None  # order: after a Flattener, our index of each torch feature
    for name, shape in layer_input_shapes(model, input_shape).items():
        layer = model.layers[name]
        if isinstance(layer, layers.Flattener):
            order = np.arange(np.prod(shape)).reshape(shape).transpose(2, 0, 1).ravel()  # (h, w, c) -> (c, h, w)
        for ours, (theirs, convert) in _torch_conversions(layer, order).items():
            if f"{name}_{ours}" in arrays:
                state[f"{name}.{theirs}"] = np.ascontiguousarray(convert(arrays[f"{name}_{ours}"]))
        if isinstance(layer, (layers.FullyConnectedLayer, layers.GlobalAveragePooling)):
            order = None
    return state


def _torch_conversions(layer, order):
    """{our array name: (torch's name, our array -> torch's array)} for `layer`; `order` as in `torch_state`."""
    reorder = (lambda array: array) if order is None else (lambda array: array[order])
    if isinstance(layer, layers.ConvolutionalLayer):
        return {"W": ("weight", lambda W: W.transpose(3, 2, 0, 1)), "B": ("bias", lambda B: B)}
    if isinstance(layer, layers.FullyConnectedLayer):
        return {"W": ("weight", lambda W: reorder(W).T), "B": ("bias", lambda B: B[0])}
    if isinstance(layer, layers.BatchNormalization):
        return {ours: (theirs, reorder) for ours, theirs in (("gamma", "weight"), ("beta", "bias"),
                                                             ("running_mean", "running_mean"),
                                                             ("running_var", "running_var"))}
    return {}


def _torch_module(layer, flat):
    """The torch module of one of our layers; `flat` when the layer comes after a flatten (BatchNorm1d then)."""
    nn = torch.nn
    if isinstance(layer, layers.ConvolutionalLayer):
        return nn.Conv2d(layer.in_channels, layer.out_channels, layer.filter_size, stride=layer.stride,
                         padding=layer.padding)
    if isinstance(layer, layers.FullyConnectedLayer):
        return nn.Linear(*layer.W.value.shape)
    if isinstance(layer, layers.BatchNormalization):
        return (nn.BatchNorm1d if flat else nn.BatchNorm2d)(layer.n_features, eps=layer.eps, momentum=layer.momentum)
    if isinstance(layer, (layers.MaxPoolingLayer, layers.AveragePoolingLayer)):
        pool = nn.MaxPool2d if isinstance(layer, layers.MaxPoolingLayer) else nn.AvgPool2d
        return pool(layer.pool_size, layer.stride)
    if isinstance(layer, layers.GlobalAveragePooling):
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if isinstance(layer, layers.Dropout):
        return nn.Dropout(layer.p)
    for ours, theirs in ((layers.ReLULayer, nn.ReLU), (layers.TanhLayer, nn.Tanh), (layers.Flattener, nn.Flatten)):
        if isinstance(layer, ours):
            return theirs()
    raise TypeError(f"torch_sequential has no torch module for {type(layer).__name__}")


def torch_momentum_step(net):
    """A function `step(x, y) -> loss tensor`: `torch_step` with `torch.optim.SGD(momentum=MOMENTUM)`."""
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    return lambda x, y: torch_step(net, optimizer, x, y)


def check_model_equivalence(name, batch=16):
    """`check_sequential_equivalence` of the float64 model `name` (lenet or vgg)."""
    check_sequential_equivalence(make_sequential(name, np.float64), name, batch)


def check_sequential_equivalence(model, name, batch=16):
    """Raise RuntimeError unless `torch_sequential(model)`, `model` a float64 `Sequential` taking 32x32x3 images,
    computes what `model` does; the message calls it `name`. `model` is trained by the check.

    Compared to `MODEL_EQUIVALENCE_RTOL` relative (to an array's largest entry) plus `MODEL_EQUIVALENCE_ATOL`: the
    loss and every gradient on one batch, then the loss of each of `EQUIVALENCE_STEPS` momentum steps
    (`momentum_step` against `torch_momentum_step`, on new batches) and the running statistics after them.
    """
    net = torch_sequential(model)
    X, y = make_batch(batch, np.float64)
    loss = model.compute_loss_and_gradients(X, y)
    their_loss = F.cross_entropy(net(to_torch(X)), torch.from_numpy(y))
    their_loss.backward()
    _check_close(name, "loss", loss, their_loss.item())
    grads = torch_state(model, {key: param.grad for key, param in model.params().items()})
    for key, param in net.named_parameters():
        _check_close(name, f"the gradient of {key}", grads[key], param.grad.numpy())

    ours, theirs = momentum_step(model), torch_momentum_step(net)
    for step in range(1, EQUIVALENCE_STEPS + 1):
        X, y = make_batch(batch, np.float64, seed=SEED + step)
        _check_close(name, f"loss at momentum step {step}", ours(X, y),
                     theirs(to_torch(X), torch.from_numpy(y)).item())
    buffers = torch_state(model, model.buffers())
    for key, buffer in net.named_buffers():
        if key in buffers:
            _check_close(name, key, buffers[key], buffer.numpy())


def _check_close(name, what, ours, theirs):
    """Raise RuntimeError unless `theirs` is within `MODEL_EQUIVALENCE_RTOL` of `ours` relative to its largest entry,
    plus `MODEL_EQUIVALENCE_ATOL`."""
    error = np.max(np.abs(np.subtract(ours, theirs)))
    if not error <= MODEL_EQUIVALENCE_RTOL * np.max(np.abs(ours)) + MODEL_EQUIVALENCE_ATOL:
        raise RuntimeError(f"the torch model of {name} is not ours: {what} differs by {error:.3g} "
                           f"(ours {np.max(np.abs(ours)):.6g} at most)")


def conv_backward_loop(d_out, X, W, padding, input_grad=True):
    """Gradients of the convolution `selfcheck.oracles.convolution` (stride 1), image by image and output pixel
    by output pixel.

    Parameters
    ----------
    d_out : ndarray of shape (batch, out_height, out_width, out_channels)
    X, W, padding : as given to the convolution
    input_grad : bool
        When False, d_X is not computed (None), as for the first layer of a network.

    Returns
    -------
    d_X : ndarray of shape (batch, height, width, in_channels), or None
    d_W : ndarray of shape (k, k, in_channels, out_channels)
    d_B : ndarray of shape (out_channels,)
    """
    k, in_channels, out_channels = W.shape[0], W.shape[2], W.shape[3]
    height, width = X.shape[1:3]
    X = np.pad(X, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    W_flat = W.reshape(-1, out_channels)  # (k * k * in_channels, out_channels)
    d_X = np.zeros_like(X)
    d_W = np.zeros_like(W_flat)
    for n in range(d_out.shape[0]):
        for y in range(d_out.shape[1]):
            for x in range(d_out.shape[2]):
                grad = d_out[n, y, x]  # (out_channels,)
                d_W += np.outer(X[n, y:y + k, x:x + k].reshape(-1), grad)
                if input_grad:
                    d_X[n, y:y + k, x:x + k] += (W_flat @ grad).reshape(k, k, in_channels)
    d_X = d_X[:, padding:padding + height, padding:padding + width] if input_grad else None
    return d_X, d_W.reshape(W.shape), d_out.sum(axis=(0, 1, 2))


def layer_input_shapes(model, input_shape):
    """{layer name: the shape of one sample it receives} for the layers of `model`, from one sample's shape."""
    shapes, shape = {}, tuple(input_shape)
    for name, layer in model.layers.items():
        shapes[name] = shape
        shape = tuple(layer.output_shape(shape))
    return shapes


def to_torch(X):
    return torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))  # (N, H, W, C) -> (N, C, H, W)


def torch_dtype(dtype):
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]
