"""Speed and memory of the numpy models, side by side with PyTorch CPU.

Run `python bench.py` (`--help` for the options). On batches of 32x32x3 images it times:

- the assignment's ConvNet, for each channel pair and dtype:
  - the training step: `compute_loss_and_gradients` plus an SGD update of every parameter, against
    forward + cross-entropy + backward + `torch.optim.SGD.step` of an equivalent `nn.Sequential` (NCHW, our
    weights copied, the images not requiring grad, as our first convolution computes no input gradient);
  - each layer's forward and backward on its own (ReLUs timed separately; the Flattener, a reshape, is left out);
  - the convolutions against `conv_forward_loop` / `conv_backward_loop`, the textbook version kept below, which
    loops over images and output pixels;
  - the peak memory of a training step (tracemalloc, which sees every numpy allocation);
  - the step time per image at batch / 4, batch and 4 * batch for (16, 32) float32;
- `lenet()` and `vgg()` of model.py, for each dtype, against the same networks built layer for layer as a
  `torch.nn.Sequential` by `torch_sequential` (our weights and running statistics copied):
  - the training step with SGD with momentum;
  - each layer of `vgg()`, forward and backward, and its BatchNorm layers against torch's on NCHW tensors (the
    default) and on channels_last ones (the memory layout of our NHWC arrays);
  - the peak memory of a training step;
  - one epoch over 73,257 images (SVHN's training set), extrapolated from a few steps or, with --full-epoch,
    run whole;
  - for `lenet()`, the augmentation of one batch (`augment.DIGITS`: shift + rotation + colour jitter) against our
    training step, interleaved with it.

Ours and torch run in turn, one of each per round (with a pause and an untimed call at each switch, see
`time_interleaved`), after warm-up rounds; every figure is a median, except the epoch, where they take turns every
few steps and each side's time is a total. Before any timing, each torch model is checked to give our loss and
gradients on the same batch in float64 (and, for `lenet()` and `vgg()`, our losses and running statistics over a
few momentum steps). The footer says how much of the cores other processes took meanwhile.
"""
import argparse
import os
import platform
import statistics
import sys
import textwrap
import time
import tracemalloc
from collections import OrderedDict

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import augment
from layers import (AveragePoolingLayer, BatchNormalization, ConvolutionalLayer, Dropout, Flattener,
                    FullyConnectedLayer, GlobalAveragePooling, MaxPoolingLayer, ReLULayer, TanhLayer)
from model import ConvNet, lenet, vgg
from optim import SGD, MomentumSGD
from validation import parse_argument

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch is optional: requirements-bench.txt
    torch = None


IMAGE_SHAPE = (32, 32, 3)
N_CLASSES = 10
LEARNING_RATE = 1e-3
BUSY_SHARE = 0.1  # of the cores used by other processes during the run, above which the figures are unreliable
SETTLE_SECONDS = 0.1  # OpenBLAS and OpenMP workers spin for up to ~100 ms after a call; see time_interleaved
SEED = 0
LAYERS = ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc")
SCALING_CONFIG, SCALING_DTYPE = (16, 32), "float32"
EQUIVALENCE_TOL = 1e-5

MODELS = {"lenet": lenet, "vgg": vgg}
LAYER_TABLE_MODELS = ("vgg",)  # the models given a per-layer and a BatchNorm table
MOMENTUM = 0.9
EPOCH_IMAGES = 73257  # SVHN's training set
EPOCH_TURN_STEPS = 5  # ours and torch take turns every this many steps of the epoch
MODEL_EQUIVALENCE_RTOL = 1e-6
# Plus this absolute error: the bias of a convolution followed by BatchNorm has a gradient of exactly zero,
# which both compute as rounding noise.
MODEL_EQUIVALENCE_ATOL = 1e-12
EQUIVALENCE_STEPS = 3

# Targets, judged at batch 64 only. ConvNet: training step at most this many times torch's, per channel pair;
# convolution forward + backward at least this many times faster than the per-pixel loop; peak memory of a
# (16, 32) float32 step.
TARGET_BATCH = 64
STEP_RATIO_TARGETS = {(2, 2): 4.0, (16, 32): 2.0, (32, 64): 2.0}
LOOP_SPEEDUP_TARGET = 30.0
MEMORY_TARGET_MB, MEMORY_TARGET_CASE = 32.0, ((16, 32), "float32")
# lenet() and vgg(): training step at most this many times torch's; each BatchNorm layer's forward + backward at
# most this many times torch's NCHW one; peak memory of a vgg() float32 step.
MODEL_STEP_TARGETS = {("lenet", "float32"): 2.0, ("lenet", "float64"): 2.0, ("vgg", "float32"): 1.5}
BATCHNORM_TARGET = 1.5
AUGMENTATION = augment.DIGITS  # shift + rotation + colour jitter, what train.py --augment default applies
AUGMENTATION_MODEL, AUGMENTATION_SHARE_TARGET = "lenet", 0.25  # of a training step
MODEL_MEMORY_TARGET_MB, MODEL_MEMORY_TARGET_CASE = 200.0, ("vgg", "float32")


def main(argv=None):
    """Parse the options, run every measurement and print the tables and the machine footer."""
    args = _parse_args(argv)
    torch_threads = None if torch is None else torch.get_num_threads()
    try:
        if args.threads is not None and torch is not None:
            torch.set_num_threads(args.threads)
        with threadpool_limits(limits=args.threads):  # limits=None leaves the pools alone
            _run(args)
    finally:
        if torch is not None:
            torch.set_num_threads(torch_threads)


def _run(args):
    start = _cpu_snapshot()
    tables = {key: [] for key in ("step", "layers", "loop", "memory",
                                  "model step", "model layers", "batchnorm", "model memory", "epoch",
                                  "augmentation")}
    for config in args.configs:
        if torch is not None:
            check_equivalence(config, batch=min(args.batch, 16))
        for dtype in args.dtypes:
            _progress(f"timing {config} {dtype}")
            _measure(config, dtype, args, tables)
    scaling = None
    if args.configs:
        _progress(f"timing the scaling of {SCALING_CONFIG} {SCALING_DTYPE}")
        scaling = [(batch, *time_step(SCALING_CONFIG, SCALING_DTYPE, batch, args.repeats, args.warmup))
                   for batch in (max(args.batch // 4, 1), args.batch, 4 * args.batch)]
    for name in args.models:
        if torch is not None:
            check_model_equivalence(name, batch=min(args.batch, 16))
        for dtype in args.dtypes:
            _progress(f"timing {name}() {dtype}")
            _measure_model(name, dtype, args, tables)
    print(report(tables, scaling, args, _others_share(start)))
    _progress(f"done in {time.perf_counter() - start[0]:.0f} s")


def _measure(config, dtype, args, tables):
    """Time one (config, dtype) and append a row to each of `tables`."""
    ours, theirs = time_step(config, dtype, args.batch, args.repeats, args.warmup)
    target = STEP_RATIO_TARGETS.get(config) if args.batch == TARGET_BATCH else None
    ratio = _divide(ours, theirs)
    tables["step"].append([_config_name(config), dtype, _ms(ours), _ms(theirs), _ratio(ratio),
                           _target("<=", target, "x"), _status(ratio, target, at_most=True)])

    layer_times = time_layers(config, dtype, args.batch, args.repeats, args.warmup)
    for name in LAYERS:
        t = layer_times[name]
        tables["layers"].append([_config_name(config), dtype, name,
                                 _ms(t["ours forward"]), _ms(t.get("torch forward")),
                                 _ratio(_divide(t["ours forward"], t.get("torch forward"))),
                                 _ms(t["ours backward"]), _ms(t.get("torch backward")),
                                 _ratio(_divide(t["ours backward"], t.get("torch backward")))])

    loop_times = time_conv_loops(config, dtype, args.batch, min(args.loop_batch, args.batch), args.loop_repeats)
    convs = {name: (loop_times[name], layer_times[name]["ours forward"] + layer_times[name]["ours backward"])
             for name in ("conv1", "conv2")}
    convs["both"] = tuple(map(sum, zip(*convs.values())))
    for name, (loop, fast) in convs.items():
        speedup = loop / fast
        tables["loop"].append([_config_name(config), dtype, name, _ms(loop), _ms(fast),
                               f"{speedup:.0f}x", _target(">=", LOOP_SPEEDUP_TARGET, "x"),
                               _status(speedup, LOOP_SPEEDUP_TARGET, at_most=False)])

    peak_mb = peak_step_memory(config, dtype, args.batch) / 1e6
    target = MEMORY_TARGET_MB if (config, dtype) == MEMORY_TARGET_CASE and args.batch == TARGET_BATCH else None
    tables["memory"].append([_config_name(config), dtype, f"{peak_mb:.1f}", _target("<=", target, " MB"),
                             _status(peak_mb, target, at_most=True)])


def _measure_model(name, dtype, args, tables):
    """Time one (model name, dtype) and append its rows to `tables`."""
    at_target = args.batch == TARGET_BATCH
    ours, theirs = time_model_step(name, dtype, args.batch, args.repeats, args.warmup)
    target = MODEL_STEP_TARGETS.get((name, dtype)) if at_target else None
    ratio = _divide(ours, theirs)
    tables["model step"].append([f"{name}()", dtype, _ms(ours), _ms(theirs), _ratio(ratio),
                                 _target("<=", target, "x"), _status(ratio, target, at_most=True)])

    if name in LAYER_TABLE_MODELS:
        model = make_sequential(name, dtype)
        layer_times = time_model_layers(model, args.batch, args.repeats, args.warmup)
        _add_layer_rows(f"{name}()", dtype, model, layer_times, tables, at_target)

    peak_mb = peak_model_memory(name, dtype, args.batch) / 1e6
    target = MODEL_MEMORY_TARGET_MB if (name, dtype) == MODEL_MEMORY_TARGET_CASE and at_target else None
    tables["model memory"].append([f"{name}()", dtype, f"{peak_mb:.1f}", _target("<=", target, " MB"),
                                   _status(peak_mb, target, at_most=True)])

    steps = None if args.full_epoch else args.epoch_steps
    ours, theirs, timed, n_steps = time_epoch(name, dtype, args.batch, args.epoch_images, steps)
    how = (f"full epoch of {args.epoch_images} images, {n_steps} steps" if timed == n_steps else
           f"extrapolated from {timed} step{'s' if timed > 1 else ''} to {n_steps}")
    tables["epoch"].append([f"{name}()", dtype, how, _seconds(ours), _seconds(theirs),
                            _ratio(_divide(ours, theirs))])

    if name == AUGMENTATION_MODEL:
        augmentation, step = time_augmentation(name, dtype, args.batch, args.repeats, args.warmup)
        share, target = augmentation / step, AUGMENTATION_SHARE_TARGET if at_target else None
        tables["augmentation"].append([f"{name}()", dtype, _ms(augmentation), _ms(step), f"{share:.0%}",
                                       _target("<=", None if target is None else 100 * target, "%"),
                                       _status(share, target, at_most=True)])


def _add_layer_rows(label, dtype, model, times, tables, at_target):
    """Rows of the layer table (each timed layer, then their sum) and of the BatchNorm table for `model`."""
    kinds = ("ours forward", "torch forward", "ours backward", "torch backward")
    total = {kind: sum(t[kind] for t in times.values()) if all(kind in t for t in times.values()) else None
             for kind in kinds}
    ours_total = total["ours forward"] + total["ours backward"]
    input_shapes = _layer_input_shapes(model, IMAGE_SHAPE)
    for name, t in [*times.items(), ("all layers", total)]:
        fwd, torch_fwd, bwd, torch_bwd = (t.get(kind) for kind in kinds)
        tables["model layers"].append([label, dtype, name, _ms(fwd), _ms(torch_fwd), _ratio(_divide(fwd, torch_fwd)),
                                       _ms(bwd), _ms(torch_bwd), _ratio(_divide(bwd, torch_bwd)),
                                       f"{(fwd + bwd) / ours_total:.0%}"])
        if isinstance(model.layers.get(name), BatchNormalization):
            ours = fwd + bwd
            nchw = _add(torch_fwd, torch_bwd)
            channels_last = _add(t.get("torch channels_last forward"), t.get("torch channels_last backward"))
            ratio, target = _divide(ours, nchw), BATCHNORM_TARGET if at_target else None
            tables["batchnorm"].append([label, dtype, name, "x".join(map(str, input_shapes[name])), _ms(ours),
                                        _ms(nchw), _ratio(ratio), _target("<=", target, "x"),
                                        _status(ratio, target, at_most=True), _ms(channels_last),
                                        _ratio(_divide(ours, channels_last))])


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
    layers = model.layers
    conv1, conv2, pool1, pool2 = layers["conv1"], layers["conv2"], layers["pool1"], layers["pool2"]
    net = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(model.input_shape[2], model.conv1_channels, conv1.filter_size, padding=conv1.padding),
        relu1=nn.ReLU(),
        pool1=nn.MaxPool2d(pool1.pool_size, pool1.stride),
        conv2=nn.Conv2d(model.conv1_channels, model.conv2_channels, conv2.filter_size, padding=conv2.padding),
        relu2=nn.ReLU(),
        pool2=nn.MaxPool2d(pool2.pool_size, pool2.stride),
        flatten=nn.Flatten(),
        fc=nn.Linear(*layers["fc"].W.value.shape),
    )).to(_torch_dtype(model.dtype))
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
    theirs = F.cross_entropy(net(_to_torch(X)), torch.from_numpy(y))
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
        flat = flat or isinstance(layer, (Flattener, GlobalAveragePooling))
    net = torch.nn.Sequential(modules).to(_torch_dtype(model.dtype))
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
    for name, shape in _layer_input_shapes(model, input_shape).items():
        layer = model.layers[name]
        if isinstance(layer, Flattener):
            order = np.arange(np.prod(shape)).reshape(shape).transpose(2, 0, 1).ravel()  # (h, w, c) -> (c, h, w)
        for ours, (theirs, convert) in _torch_conversions(layer, order).items():
            if f"{name}_{ours}" in arrays:
                state[f"{name}.{theirs}"] = np.ascontiguousarray(convert(arrays[f"{name}_{ours}"]))
        if isinstance(layer, (FullyConnectedLayer, GlobalAveragePooling)):
            order = None
    return state


def _torch_conversions(layer, order):
    """{our array name: (torch's name, our array -> torch's array)} for `layer`; `order` as in `torch_state`."""
    reorder = (lambda array: array) if order is None else (lambda array: array[order])
    if isinstance(layer, ConvolutionalLayer):
        return {"W": ("weight", lambda W: W.transpose(3, 2, 0, 1)), "B": ("bias", lambda B: B)}
    if isinstance(layer, FullyConnectedLayer):
        return {"W": ("weight", lambda W: reorder(W).T), "B": ("bias", lambda B: B[0])}
    if isinstance(layer, BatchNormalization):
        return {ours: (theirs, reorder) for ours, theirs in (("gamma", "weight"), ("beta", "bias"),
                                                             ("running_mean", "running_mean"),
                                                             ("running_var", "running_var"))}
    return {}


def _torch_module(layer, flat):
    """The torch module of one of our layers; `flat` when the layer comes after a flatten (BatchNorm1d then)."""
    nn = torch.nn
    if isinstance(layer, ConvolutionalLayer):
        return nn.Conv2d(layer.in_channels, layer.out_channels, layer.filter_size, stride=layer.stride,
                         padding=layer.padding)
    if isinstance(layer, FullyConnectedLayer):
        return nn.Linear(*layer.W.value.shape)
    if isinstance(layer, BatchNormalization):
        return (nn.BatchNorm1d if flat else nn.BatchNorm2d)(layer.n_features, eps=layer.eps, momentum=layer.momentum)
    if isinstance(layer, (MaxPoolingLayer, AveragePoolingLayer)):
        pool = nn.MaxPool2d if isinstance(layer, MaxPoolingLayer) else nn.AvgPool2d
        return pool(layer.pool_size, layer.stride)
    if isinstance(layer, GlobalAveragePooling):
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if isinstance(layer, Dropout):
        return nn.Dropout(layer.p)
    for ours, theirs in ((ReLULayer, nn.ReLU), (TanhLayer, nn.Tanh), (Flattener, nn.Flatten)):
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
    their_loss = F.cross_entropy(net(_to_torch(X)), torch.from_numpy(y))
    their_loss.backward()
    _check_close(name, "loss", loss, their_loss.item())
    grads = torch_state(model, {key: param.grad for key, param in model.params().items()})
    for key, param in net.named_parameters():
        _check_close(name, f"the gradient of {key}", grads[key], param.grad.numpy())

    ours, theirs = momentum_step(model), torch_momentum_step(net)
    for step in range(1, EQUIVALENCE_STEPS + 1):
        X, y = make_batch(batch, np.float64, seed=SEED + step)
        _check_close(name, f"loss at momentum step {step}", ours(X, y),
                     theirs(_to_torch(X), torch.from_numpy(y)).item())
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


def time_interleaved(groups, repeats, warmup):
    """Median seconds of every function in `groups`, a list of {name: callable}, one group per library.

    `warmup` untimed rounds come first, then `repeats` timed rounds; each round calls every function once, group
    after group. With several groups, each group's turn starts with a sleep of `SETTLE_SECONDS` and one untimed
    call of each of its functions: the worker threads the previous library leaves spinning would otherwise take
    the cores (torch ran 2x slower for 80 ms after a numpy step), and this library's own workers, asleep after
    the pause, would make its first call up to 10x slower.
    """
    for _ in range(warmup):
        for group in groups:
            for function in group.values():
                function()
    times = {name: [] for group in groups for name in group}
    for _ in range(repeats):
        for group in groups:
            if len(groups) > 1:
                time.sleep(SETTLE_SECONDS)
                for function in group.values():
                    function()
            for name, function in group.items():
                start = time.perf_counter()
                function()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def time_step(config, dtype, batch, repeats, warmup):
    """Median seconds of our training step and of torch's (None without torch) on one batch."""
    model = make_model(config, dtype)
    X, y = make_batch(batch, dtype)
    groups = [{"ours": lambda: our_step(model, X, y)}]
    if torch is not None:
        net = torch_model(model)
        optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)
        x, target = _to_torch(X), torch.from_numpy(y)
        groups.append({"torch": lambda: torch_step(net, optimizer, x, target)})
    times = time_interleaved(groups, repeats, warmup)
    return times["ours"], times.get("torch")


def time_layers(config, dtype, batch, repeats, warmup):
    """Median seconds of each ConvNet layer's forward and backward, ours and torch's, on the activations of one
    batch: `_time_layers` of the layers in `LAYERS`."""
    model = make_model(config, dtype)
    X, _ = make_batch(batch, dtype)
    return _time_layers(model, None if torch is None else torch_model(model), X, LAYERS, repeats, warmup)


def time_model_step(name, dtype, batch, repeats, warmup):
    """Median seconds of a `momentum_step` of the model `name` and of torch's (None without torch) on one batch."""
    model = make_sequential(name, dtype)
    X, y = make_batch(batch, dtype)
    step = momentum_step(model)
    groups = [{"ours": lambda: step(X, y)}]
    if torch is not None:
        their_step = torch_momentum_step(torch_sequential(model))
        x, target = _to_torch(X), torch.from_numpy(y)
        groups.append({"torch": lambda: their_step(x, target)})
    times = time_interleaved(groups, repeats, warmup)
    return times["ours"], times.get("torch")


def time_augmentation(name, dtype, batch, repeats, warmup):
    """Median seconds of `AUGMENTATION` on one batch and of a `momentum_step` of the model `name`, taking turns.

    The generator is the function's own (seeded), as Trainer passes its own: the global RNG is left alone.
    """
    model = make_sequential(name, dtype)
    X, y = make_batch(batch, dtype)
    step, rng = momentum_step(model), np.random.default_rng(SEED)
    times = time_interleaved([{"augmentation": lambda: AUGMENTATION(X, rng), "step": lambda: step(X, y)}],
                             repeats, warmup)
    return times["augmentation"], times["step"]


def time_model_layers(model, batch, repeats, warmup):
    """Median seconds of each layer of the `Sequential` `model` on the activations of one batch: `_time_layers`
    of every layer but those that do not compute (a Flattener, a reshape; a Dropout with p = 0, the identity)."""
    X, _ = make_batch(batch, model.dtype)
    names = [name for name, layer in model.layers.items()
             if not isinstance(layer, Flattener) and not (isinstance(layer, Dropout) and layer.p == 0)]
    return _time_layers(model, None if torch is None else torch_sequential(model), X, names, repeats, warmup)


def _time_layers(model, net, X, names, repeats, warmup):
    """Median seconds of the forward and backward of the layers `names` of `model`, ours and those of the torch
    module `net` (None: ours only), on the activations of the batch `X` of shape (batch, 32, 32, 3).

    `model.layers` and `net`'s children have the same names. Returns {layer: {"ours forward", "ours backward",
    "torch forward", "torch backward": seconds}}, plus "torch channels_last forward" and "torch channels_last
    backward" for a BatchNorm2d (the same module on a channels_last copy of its input). Torch's forward records the
    autograd graph, as in training; its backward is `torch.autograd.grad` of the layer's output with respect to
    its parameters and (except for the first layer, like ours) its input.
    """
    rng = np.random.default_rng(SEED)
    ours = {}
    for name, (layer, inputs, outputs) in _layer_activations(model, X, names).items():
        d_out = rng.standard_normal(outputs.shape).astype(X.dtype)
        ours[name, "ours forward"] = lambda layer=layer, inputs=inputs: layer.forward(inputs)
        ours[name, "ours backward"] = lambda layer=layer, d_out=d_out: layer.backward(d_out)
    groups = [ours]
    if net is not None:
        theirs = {}
        x = _to_torch(X)
        for index, (name, module) in enumerate(net.named_children()):
            inputs = x.detach().requires_grad_(index > 0)
            x = module(inputs)
            if name in names:
                theirs.update(_torch_layer_timers(name, "torch", module, inputs, x))
                if isinstance(module, torch.nn.BatchNorm2d):
                    inputs = inputs.detach().to(memory_format=torch.channels_last).requires_grad_()
                    theirs.update(_torch_layer_timers(name, "torch channels_last", module, inputs, module(inputs)))
        groups.append(theirs)
    times = {name: {} for name in names}
    for (name, kind), seconds in time_interleaved(groups, repeats, warmup).items():
        times[name][kind] = seconds
    return times


def _torch_layer_timers(name, label, module, inputs, outputs):
    """{(name, f"{label} forward"): callable, (name, f"{label} backward"): callable} for one torch module."""
    wrt = [*module.parameters(), *([inputs] if inputs.requires_grad else [])]
    grad = torch.randn_like(outputs)  # in the memory format of `outputs`
    return {(name, f"{label} forward"): lambda: module(inputs),
            (name, f"{label} backward"): lambda: torch.autograd.grad(outputs, wrt, grad, retain_graph=True)}


def time_epoch(name, dtype, batch, images, steps=None):
    """Seconds of one epoch of the model `name`: `images` random images in shuffled batches of `batch` (the last
    one holding the rest), ours and torch's (None without torch), each side a fresh model after one untimed step.

    Each batch is gathered from a float32 stand-in training set (NHWC for ours, NCHW for torch) and converted to
    `dtype`, then trained on by `momentum_step` / `torch_momentum_step`. The two sides take turns every
    `EPOCH_TURN_STEPS` steps (after a pause of `SETTLE_SECONDS`), so that both meet the same load on a shared
    machine; the time of each side is the sum of its turns. With `steps`, only the first `steps` batches are
    timed and the time is scaled to the epoch's `ceil(images / batch)` steps; None runs it whole.

    Returns
    -------
    ours, torch : float or None, seconds
    timed, n_steps : int, the steps timed and the steps of the epoch
    """
    n_steps = -(-images // batch)
    timed = n_steps if steps is None else min(steps, n_steps)
    n_images = min(images, timed * batch)
    rng = np.random.default_rng(SEED)
    pool = rng.standard_normal((n_images, *IMAGE_SHAPE), dtype=np.float32)
    labels = rng.integers(N_CLASSES, size=n_images)
    order = rng.permutation(n_images)
    batches = [order[start:start + batch] for start in range(0, n_images, batch)]

    our_step = momentum_step(make_sequential(name, dtype))
    sides = {"ours": lambda k: our_step(pool[batches[k]].astype(dtype, copy=False), labels[batches[k]])}
    if torch is not None:
        images_nchw = torch.from_numpy(pool.transpose(0, 3, 1, 2).copy())  # (n, H, W, C) -> (n, C, H, W)
        targets, torch_dtype = torch.from_numpy(labels), _torch_dtype(dtype)
        torch_batches = [torch.from_numpy(idx) for idx in batches]
        their_step = torch_momentum_step(torch_sequential(make_sequential(name, dtype)))
        sides["torch"] = lambda k: their_step(images_nchw[torch_batches[k]].to(torch_dtype), targets[torch_batches[k]])
    seconds = dict.fromkeys(sides, 0.0)
    for step in sides.values():
        step(0)
    for start in range(0, len(batches), EPOCH_TURN_STEPS):
        for side, step in sides.items():
            if len(sides) > 1:
                time.sleep(SETTLE_SECONDS)
            begin = time.perf_counter()
            for k in range(start, min(start + EPOCH_TURN_STEPS, len(batches))):
                step(k)
            seconds[side] += time.perf_counter() - begin
    scale = n_steps / timed
    return seconds["ours"] * scale, seconds["torch"] * scale if "torch" in seconds else None, timed, n_steps


def time_conv_loops(config, dtype, batch, loop_batch, repeats):
    """Seconds of `conv_forward_loop` + `conv_backward_loop` on the shapes of conv1 and conv2 at `batch` images.

    The loop runs image by image, so it is timed on the first `loop_batch` images and scaled by
    `batch / loop_batch`. Like the layers, it computes no input gradient for conv1.
    Returns {"conv1": seconds, "conv2": seconds}.
    """
    model = make_model(config, dtype)
    X, _ = make_batch(loop_batch, dtype)
    rng = np.random.default_rng(SEED)
    loops = {}
    for name, (layer, inputs, outputs) in _layer_activations(model, X, ("conv1", "conv2")).items():
        d_out = rng.standard_normal(outputs.shape).astype(dtype)

        def loop(inputs=inputs, d_out=d_out, W=layer.W.value, B=layer.B.value, padding=layer.padding,
                 input_grad=layer.compute_input_grad):
            conv_forward_loop(inputs, W, B, padding)
            conv_backward_loop(d_out, inputs, W, padding, input_grad)
        loops[name] = loop
    times = time_interleaved([loops], repeats, warmup=1)
    return {name: seconds * batch / loop_batch for name, seconds in times.items()}


def peak_step_memory(config, dtype, batch):
    """Peak bytes traced by tracemalloc over the first two SGD training steps of a fresh ConvNet, inputs excluded.

    The first step allocates whatever buffers the layers keep between calls, so they are counted.
    """
    model = make_model(config, dtype)
    X, y = make_batch(batch, dtype)
    return _peak_memory(lambda: our_step(model, X, y))


def peak_model_memory(name, dtype, batch):
    """Peak bytes traced by tracemalloc over the first two `momentum_step`s of a fresh model `name`, inputs
    excluded; the buffers the layers keep and the optimizers' velocities are counted."""
    step = momentum_step(make_sequential(name, dtype))
    X, y = make_batch(batch, dtype)
    return _peak_memory(lambda: step(X, y))


def _peak_memory(step):
    """Peak bytes traced by tracemalloc over two calls of `step()`."""
    tracemalloc.start()
    try:
        for _ in range(2):
            step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def conv_forward_loop(X, W, B, padding):
    """The textbook convolution, stride 1: loops over images and output pixels, one patch @ W_flat each.

    Parameters
    ----------
    X : ndarray of shape (batch, height, width, in_channels)
    W : ndarray of shape (k, k, in_channels, out_channels)
    B : ndarray of shape (out_channels,)
    padding : int
        Zeros added on each side of the height and width.

    Returns
    -------
    ndarray of shape (batch, out_height, out_width, out_channels), `out_height = height + 2 * padding - k + 1`
    """
    k, out_channels = W.shape[0], W.shape[3]
    X = np.pad(X, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    batch, padded_height, padded_width = X.shape[:3]
    W_flat = W.reshape(-1, out_channels)  # (k * k * in_channels, out_channels)
    out = np.empty((batch, padded_height - k + 1, padded_width - k + 1, out_channels), dtype=X.dtype)
    for n in range(batch):
        for y in range(out.shape[1]):
            for x in range(out.shape[2]):
                out[n, y, x] = X[n, y:y + k, x:x + k].reshape(-1) @ W_flat + B
    return out


def conv_backward_loop(d_out, X, W, padding, input_grad=True):
    """Gradients of `conv_forward_loop`, image by image and output pixel by output pixel.

    Parameters
    ----------
    d_out : ndarray of shape (batch, out_height, out_width, out_channels)
    X, W, padding : as given to `conv_forward_loop`
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


def report(tables, scaling, args, others_share=None):
    """The tables and the machine footer as one string, plain text or Markdown; a table without rows is left out."""
    md = args.markdown
    parts = []
    sections = _convnet_sections(tables, scaling, args) + _model_sections(tables, args)
    for title, headers, n_labels, rows, note in sections:
        if not rows:
            continue
        if md:  # a blank line ends a Markdown table
            parts += [f"### {title}", format_table(headers, rows, n_labels, md), "", note, ""]
        else:
            parts += [title, "=" * len(title), format_table(headers, rows, n_labels), textwrap.fill(note, 110), ""]
    parts.append("### Machine" if md else "Machine\n=======")
    parts += [f"- {line}" if md else line for line in machine_info(args.threads, others_share)]
    return "\n".join(parts)


def _convnet_sections(tables, scaling, args):
    """(title, headers, number of label columns, rows, note) of each ConvNet table."""
    runs = _runs(args)
    scaling_rows = []
    if scaling:
        reference = next(ours / batch for batch, ours, _ in scaling if batch == args.batch)
        scaling_rows = [[str(batch), _ms(ours), _ms(ours / batch), _ms(_divide(theirs, batch)),
                         _ratio(_divide(ours, theirs)), f"{ours / batch / reference:.2f}"]
                        for batch, ours, theirs in scaling]
    return [
        (f"Training step, batch {args.batch} of 32x32x3, ms ({runs})",
         ["channels", "dtype", "ours", "torch", "ours/torch", "target", "status"], 2, tables["step"],
         "ours: compute_loss_and_gradients + SGD update; torch: forward + cross_entropy + backward + SGD step."
         + _at_target(args)),
        (f"Layers, batch {args.batch}, ms ({runs})",
         ["channels", "dtype", "layer", "ours fwd", "torch fwd", "ratio", "ours bwd", "torch bwd", "ratio"], 3,
         tables["layers"], "conv1 backward computes no input gradient in either; the Flattener (a reshape) is not "
                           "timed; torch forward records autograd, torch backward is autograd.grad of the layer."),
        (f"Convolution forward + backward against the per-pixel loop, batch {args.batch}, ms",
         ["channels", "dtype", "layer", "loop", "ours", "speed-up", "target", "status"], 3, tables["loop"],
         f"loop: conv_forward_loop + conv_backward_loop in bench.py, one patch @ W per image and output pixel; "
         f"median of {args.loop_repeats} runs on {min(args.loop_batch, args.batch)} images, scaled linearly to "
         f"{args.batch}. ours: forward + backward medians from the layer table."),
        (f"Peak memory of a training step, batch {args.batch}",
         ["channels", "dtype", "peak MB", "target", "status"], 2, tables["memory"],
         "tracemalloc peak over the first two steps of a fresh model (buffers kept between calls included, "
         "inputs excluded); MB = 10^6 bytes."),
        (f"Scaling, {_config_name(SCALING_CONFIG)} {SCALING_DTYPE}, ms ({runs})",
         ["batch", "ours step", "ours/image", "torch/image", "ours/torch", f"per image vs batch {args.batch}"],
         1, scaling_rows, "Linear cost keeps the last column near 1."),
    ]


def _model_sections(tables, args):
    """(title, headers, number of label columns, rows, note) of each table of lenet() and vgg()."""
    runs = _runs(args)
    models = " and ".join(f"{name}()" for name in args.models)
    layer_models = " and ".join(f"{name}()" for name in args.models if name in LAYER_TABLE_MODELS)
    skipped = " PyTorch comparison skipped: torch not installed." if torch is None else ""
    return [
        (f"Training step of {models}, batch {args.batch} of 32x32x3, ms ({runs})",
         ["model", "dtype", "ours", "torch", "ours/torch", "target", "status"], 2, tables["model step"],
         f"ours: compute_loss_and_gradients + a MomentumSGD update of every parameter; torch: the same layers as "
         f"an nn.Sequential (NCHW, our weights copied, checked to give our loss, gradients and running statistics "
         f"in float64 first): forward + cross_entropy + backward + SGD(momentum={MOMENTUM}).step. Training mode: "
         f"BatchNorm on batch statistics." + _at_target(args) + skipped),
        (f"Layers of {layer_models}, batch {args.batch}, ms ({runs})",
         ["model", "dtype", "layer", "ours fwd", "torch fwd", "ratio", "ours bwd", "torch bwd", "ratio",
          "share of ours"], 3, tables["model layers"],
         "Each layer on the activations of one batch, in training mode. conv1 backward computes no input gradient "
         "in either; flatten1 (a reshape) and drop1 (p = 0, the identity) are not timed. 'all layers' sums the "
         "rows; 'share of ours': the layer's forward + backward over that sum. Torch forward records autograd, "
         "torch backward is autograd.grad of the layer." + skipped),
        (f"BatchNorm of {layer_models}, forward + backward, batch {args.batch}, ms ({runs})",
         ["model", "dtype", "layer", "input", "ours", "torch NCHW", "ratio", "target", "status",
          "torch channels_last", "ratio"], 3, tables["batchnorm"],
         "Sums of the forward and backward medians of the layer table, training mode. torch NCHW: nn.BatchNorm2d "
         "on a contiguous NCHW tensor, torch's default layout (the one the training step uses); torch "
         "channels_last: the same module on a channels_last tensor, the memory layout of our NHWC arrays; the "
         "target is against NCHW." + _at_target(args) + skipped),
        (f"Peak memory of a {models} training step, batch {args.batch}",
         ["model", "dtype", "peak MB", "target", "status"], 2, tables["model memory"],
         "tracemalloc peak over the first two momentum steps of a fresh model (buffers kept between calls and the "
         "optimizers' velocities included, weights and inputs excluded); MB = 10^6 bytes." + _at_target(args)),
        (f"One epoch of {args.epoch_images} images in batches of {args.batch} (SVHN's training set: "
         f"{EPOCH_IMAGES}), seconds",
         ["model", "dtype", "how", "ours", "torch", "ours/torch"], 3, tables["epoch"],
         f"Random 32x32x3 images, shuffled, each batch gathered and converted to the dtype, then a momentum step; a "
         f"fresh model for each side after one untimed step. Ours and torch take turns every {EPOCH_TURN_STEPS} "
         f"steps; each figure is the sum of one side's turns (a total, not a median: more exposed to the "
         f"machine's load than the tables above). 'extrapolated': the first steps of the epoch timed and scaled to "
         f"all of its steps; --full-epoch runs them all." + skipped),
        (f"Augmentation of a batch against a {AUGMENTATION_MODEL}() training step, batch {args.batch}, ms (median of "
         f"{args.repeats} runs after {args.warmup} warm-up runs, the two in turn)",
         ["model", "dtype", "augmentation", "ours step", "share", "target", "status"], 2, tables["augmentation"],
         f"augmentation: augment.DIGITS (shift + rotation + colour jitter: {AUGMENTATION}) on one batch, the "
         f"images Trainer(transform=) would pass it; ours step: the training step of the first table, timed in "
         f"turn with it; share: augmentation / step." + _at_target(args)),
    ]


def _runs(args):
    return f"median of {args.repeats} runs after {args.warmup} warm-up runs, ours and torch interleaved"


def _at_target(args):
    return "" if args.batch == TARGET_BATCH else f" Targets are judged at batch {TARGET_BATCH} only."


def format_table(headers, rows, n_labels=1, markdown=False):
    """`rows` (lists of strings) under `headers`, aligned; the first `n_labels` columns left, the others right."""
    cells = [headers, *rows]
    if markdown:
        rule = ["---" if i < n_labels else "---:" for i in range(len(headers))]
        return "\n".join("| " + " | ".join(row) + " |" for row in [headers, rule, *rows])
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) if i < n_labels else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(row, widths))).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def machine_info(threads=None, others_share=None):
    """Lines describing the CPU, the BLAS and thread pools, numpy and torch, and how busy the machine was.

    `others_share` is the share of the cores that other processes used during the run.
    """
    lines = [f"CPU: {_cpu_model()}, {os.cpu_count()} cores, {len(os.sched_getaffinity(0))} available to this "
             f"process; threads: {'default' if threads is None else f'limited to {threads}'}",
             f"Python {platform.python_version()}, numpy {np.__version__}"]
    for pool in threadpool_info():
        details = ", ".join(str(pool[key]) for key in ("version", "architecture", "threading_layer")
                            if pool.get(key))
        lines.append(f"{pool['user_api']} pool: {pool['prefix']} ({pool['internal_api']}"
                     f"{', ' + details if details else ''}), {pool['num_threads']} threads")
    if torch is None:
        lines.append("torch not installed: comparison skipped (pip install -r requirements-bench.txt)")
    else:
        lines.append(f"torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}")
    if others_share is not None:
        verdict = "busy: the figures are unreliable" if others_share > BUSY_SHARE else "quiet"
        lines.append(f"other processes used {others_share:.0%} of the cores during the run ({verdict})")
    lines.append(f"command: python bench.py {' '.join(sys.argv[1:])}".rstrip())
    return lines


def _layer_activations(model, X, names):
    """{layer name: (layer, its input, its output)} for the layers `names` of `model`, from one forward pass of X."""
    activations = {}
    for name, layer in model.layers.items():
        inputs = X.copy()  # a copy, in case a layer reuses its output buffer on the next call
        X = layer.forward(inputs)
        if name in names:
            activations[name] = (layer, inputs, X.copy())
    return activations


def _layer_input_shapes(model, input_shape):
    """{layer name: the shape of one sample it receives} for the layers of `model`, from one sample's shape."""
    shapes, shape = {}, tuple(input_shape)
    for name, layer in model.layers.items():
        shapes[name] = shape
        shape = tuple(layer.output_shape(shape))
    return shapes


def _to_torch(X):
    return torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))  # (N, H, W, C) -> (N, C, H, W)


def _torch_dtype(dtype):
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]


def _cpu_snapshot():
    """(wall seconds, CPU seconds used by the whole machine since boot, CPU seconds used by this process)."""
    with open("/proc/stat") as stat:
        ticks = [int(field) for field in stat.readline().split()[1:9]]  # user nice system idle iowait irq ...
    busy = sum(ticks) - ticks[3] - ticks[4]
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), time.process_time()


def _others_share(start):
    """Share of the machine's cores that other processes used since the `_cpu_snapshot()` `start`."""
    (wall, busy, ours), (wall0, busy0, ours0) = _cpu_snapshot(), start
    return max(0.0, (busy - busy0) - (ours - ours0)) / ((wall - wall0) * os.cpu_count())


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _progress(message):
    print(message, file=sys.stderr, flush=True)


def _config_name(config):
    return f"({config[0]}, {config[1]})"


def _ms(seconds):
    return "-" if seconds is None else f"{seconds * 1e3:.2f}"


def _seconds(seconds):
    return "-" if seconds is None else f"{seconds:.1f}"


def _add(a, b):
    return None if a is None or b is None else a + b


def _ratio(ratio):
    return "-" if ratio is None else f"{ratio:.2f}x"


def _divide(numerator, denominator):
    return None if numerator is None or denominator is None else numerator / denominator


def _target(operator, target, unit):
    return "-" if target is None else f"{operator} {target:g}{unit}"


def _status(value, target, at_most):
    if value is None or target is None:
        return "-"
    return "met" if (value <= target if at_most else value >= target) else "MISSED"


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Time the numpy models against PyTorch CPU. The assignment's ConvNet: the training step, each "
                    "layer, both convolutions against a per-pixel loop, the peak memory and the cost per image at "
                    "three batch sizes. lenet() and vgg(): the training step with momentum, each layer of vgg() "
                    "and its BatchNorm layers, the peak memory and one epoch of SVHN's size. Targets are judged "
                    f"at batch {TARGET_BATCH}; without torch the comparison is skipped.")
    parser.add_argument("--batch", type=_positive_int, default=TARGET_BATCH, help="images per batch (64)")
    parser.add_argument("--repeats", type=_positive_int, default=20,
                        help="timed runs per figure, the median is reported (20; quote figures of 10 or more)")
    parser.add_argument("--warmup", type=_positive_int, default=3, help="untimed runs first (3)")
    parser.add_argument("--loop-batch", type=_positive_int, default=8,
                        help="images the per-pixel loop convolution is timed on, scaled to --batch (8)")
    parser.add_argument("--loop-repeats", type=_positive_int, default=10,
                        help="timed runs of the per-pixel loop convolution (10)")
    parser.add_argument("--configs", type=_config, nargs="*", default=[(2, 2), (16, 32), (32, 64)],
                        metavar="C1xC2", help="channel pairs of the ConvNet's two convolutions (2x2 16x32 32x64); "
                                              "none leaves out the ConvNet's tables")
    parser.add_argument("--models", nargs="*", choices=tuple(MODELS), default=list(MODELS),
                        help="networks of model.py timed against the same torch.nn.Sequential (lenet vgg); none "
                             "leaves out their tables")
    parser.add_argument("--epoch-images", type=_positive_int, default=EPOCH_IMAGES,
                        help=f"images in the epoch that is timed ({EPOCH_IMAGES}, SVHN's training set)")
    parser.add_argument("--epoch-steps", type=_positive_int, default=20,
                        help="training steps timed for the epoch, scaled to the whole epoch (20)")
    parser.add_argument("--full-epoch", action="store_true",
                        help="time every step of the epoch instead (minutes; float32 stand-in images in memory)")
    parser.add_argument("--dtypes", nargs="+", choices=("float32", "float64"), default=["float32", "float64"])
    parser.add_argument("--threads", type=_positive_int,
                        help="limit BLAS, OpenMP and torch to this many threads (default: leave them alone)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 3 timed runs, 1 warm-up run, 1 loop run, at most 2 epoch steps; not "
                             "figures to quote")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.loop_repeats = 3, 1, 1
        args.epoch_steps = min(args.epoch_steps, 2)
    return args


def _positive_int(text):
    return parse_argument(text, int, "a positive integer", lambda value: value >= 1)


def _config(text):
    parts = text.lower().replace(",", "x").split("x")
    if len(parts) != 2 or not all(part.isdigit() and int(part) >= 1 for part in parts):
        raise argparse.ArgumentTypeError(f"expected two positive channel counts like 16x32, got {text!r}")
    return int(parts[0]), int(parts[1])


if __name__ == "__main__":
    main()
