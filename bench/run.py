"""Speed and memory of the numpy models, side by side with PyTorch CPU.

Run `python -m bench` (`--help` for the options). On batches of 32x32x3 images it times:

- the assignment's ConvNet, for each channel pair and dtype:
  - the training step: `compute_loss_and_gradients` plus an SGD update of every parameter, against
    forward + cross-entropy + backward + `torch.optim.SGD.step` of an equivalent `nn.Sequential` (NCHW, our
    weights copied, the images not requiring grad, as our first convolution computes no input gradient);
  - each layer's forward and backward on its own (ReLUs timed separately; the Flattener, a reshape, is left out);
  - the convolutions against the plain loop `selfcheck.oracles.convolution` and its gradients `conv_backward_loop` in
    bench/models.py, which loops over images and output pixels;
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

With several thread counts (`--threads 1 2`), it times only the training step of each model at each count, ours and
torch's each in processes of their own (bench/scaling.py), with each side's speed-up.

The networks and their torch twins are built by bench/models.py. Ours and torch run in turn, one of each per round
(with a pause and an untimed call at each switch, see
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

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import augment
import threads
from bench import scaling
from bench.models import (
    IMAGE_SHAPE,
    LEARNING_RATE,
    MODELS,
    MOMENTUM,
    N_CLASSES,
    SEED,
    check_equivalence,
    check_model_equivalence,
    conv_backward_loop,
    layer_input_shapes,
    make_batch,
    make_model,
    make_sequential,
    momentum_step,
    our_step,
    to_torch,
    torch_dtype,
    torch_model,
    torch_momentum_step,
    torch_sequential,
    torch_step,
)
from layers import BatchNormalization, Dropout, Flattener
from selfcheck.oracles import convolution
from validation import int_at_least

try:
    import torch
except ImportError:  # torch is optional: requirements-bench.txt
    torch = None


BUSY_SHARE = 0.1  # of the cores used by other processes during the run, above which the figures are unreliable
SETTLE_SECONDS = 0.1  # OpenBLAS and OpenMP workers spin for up to ~100 ms after a call; see time_interleaved
LAYERS = ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc")
SCALING_CONFIG, SCALING_DTYPE = (16, 32), "float32"
LAYER_TABLE_MODELS = ("vgg",)  # the models given a per-layer and a BatchNorm table
EPOCH_IMAGES = 73257  # SVHN's training set
EPOCH_TURN_STEPS = 5  # ours and torch take turns every this many steps of the epoch

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
    if args.threads is not None and len(args.threads) > 1:
        _run_scaling(args)
        return
    count = None if args.threads is None else args.threads[0]
    torch_threads = None if torch is None else torch.get_num_threads()
    try:
        if count is not None and torch is not None:
            torch.set_num_threads(count)
        # limits=None leaves the BLAS pools alone; threads.limit sets the package's threads and the BLAS pools.
        with threadpool_limits(limits=count), threads.limit(count or threads.get_num_threads()):
            _run(args)
    finally:
        if torch is not None:
            torch.set_num_threads(torch_threads)


def _run_scaling(args):
    """`scaling`'s table: the training step of each model at each of `args.threads`, each side in its own
    processes."""
    start = _cpu_snapshot()
    cases = [(f"{c1}x{c2}", dtype) for c1, c2 in args.configs for dtype in args.dtypes]
    cases += [(name, dtype) for name in args.models for dtype in args.dtypes]
    for config in args.configs if torch is not None else ():
        check_equivalence(config, batch=min(args.batch, 16))
    for name in args.models if torch is not None else ():
        check_model_equivalence(name, batch=min(args.batch, 16))
    rows = scaling.scaling_rows(cases, args.threads, args.batch, args.repeats, args.warmup, torch is not None,
                                      _progress)
    headers, lines = scaling.table(rows, args.threads)
    title = f"Training step at {', '.join(map(str, args.threads))} threads, batch {args.batch}"
    note = (f"Each side in processes of its own, {scaling.ROUNDS} rounds taking turns, medians of "
            f"{args.repeats} steps each; spread: (slowest - fastest) / median of the rounds. ours x{args.threads[0]}"
            f"->N: each side's speed-up from {args.threads[0]} thread(s) to this row's count.")
    md = args.markdown
    parts = ([f"### {title}", format_table(headers, lines, 3, md), "", note, ""] if md else
             [title, "=" * len(title), format_table(headers, lines, 3), textwrap.fill(note, 110), ""])
    parts.append("### Machine" if md else "Machine\n=======")
    parts += [f"- {line}" if md else line for line in machine_info(None, _others_share(start))]
    print("\n".join(parts))


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
    input_shapes = layer_input_shapes(model, IMAGE_SHAPE)
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
        x, target = to_torch(X), torch.from_numpy(y)
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
        x, target = to_torch(X), torch.from_numpy(y)
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
        x = to_torch(X)
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
        targets, their_dtype = torch.from_numpy(labels), torch_dtype(dtype)
        torch_batches = [torch.from_numpy(idx) for idx in batches]
        their_step = torch_momentum_step(torch_sequential(make_sequential(name, dtype)))
        sides["torch"] = lambda k: their_step(images_nchw[torch_batches[k]].to(their_dtype), targets[torch_batches[k]])
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
    """Seconds of the plain-loop `convolution` + `conv_backward_loop` on the shapes of conv1 and conv2, `batch` images.

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
            convolution(inputs, W, B, padding)
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
    count = None if args.threads is None else args.threads[0]
    parts += [f"- {line}" if md else line for line in machine_info(count, others_share)]
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
         f"loop: selfcheck.oracles.convolution + bench/models.py's conv_backward_loop, one patch @ W per image and "
         f"output pixel; "
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
    lines.append(f"command: python -m bench {' '.join(sys.argv[1:])}".rstrip())
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


def _cpu_snapshot():
    """(wall seconds, CPU seconds used by the whole machine since boot, CPU seconds used by this process and its
    finished children)."""
    with open("/proc/stat") as stat:
        ticks = [int(field) for field in stat.readline().split()[1:9]]  # user nice system idle iowait irq ...
    busy = sum(ticks) - ticks[3] - ticks[4]
    children = os.times().children_user + os.times().children_system  # the timing processes of --threads N M
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), time.process_time() + children


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
    parser = argparse.ArgumentParser(prog="python -m bench",
        description="Time the numpy models against PyTorch CPU. The assignment's ConvNet: the training step, each "
                    "layer, both convolutions against a per-pixel loop, the peak memory and the cost per image at "
                    "three batch sizes. lenet() and vgg(): the training step with momentum, each layer of vgg() "
                    "and its BatchNorm layers, the peak memory and one epoch of SVHN's size. Targets are judged "
                    f"at batch {TARGET_BATCH}; without torch the comparison is skipped.")
    parser.add_argument("--batch", type=int_at_least(1), default=TARGET_BATCH, help="images per batch (64)")
    parser.add_argument("--repeats", type=int_at_least(1), default=20,
                        help="timed runs per figure, the median is reported (20; quote figures of 10 or more)")
    parser.add_argument("--warmup", type=int_at_least(1), default=3, help="untimed runs first (3)")
    parser.add_argument("--loop-batch", type=int_at_least(1), default=8,
                        help="images the per-pixel loop convolution is timed on, scaled to --batch (8)")
    parser.add_argument("--loop-repeats", type=int_at_least(1), default=10,
                        help="timed runs of the per-pixel loop convolution (10)")
    parser.add_argument("--configs", type=_config, nargs="*", default=[(2, 2), (16, 32), (32, 64)],
                        metavar="C1xC2", help="channel pairs of the ConvNet's two convolutions (2x2 16x32 32x64); "
                                              "none leaves out the ConvNet's tables")
    parser.add_argument("--models", nargs="*", choices=tuple(MODELS), default=list(MODELS),
                        help="networks of model.py timed against the same torch.nn.Sequential (lenet vgg); none "
                             "leaves out their tables")
    parser.add_argument("--epoch-images", type=int_at_least(1), default=EPOCH_IMAGES,
                        help=f"images in the epoch that is timed ({EPOCH_IMAGES}, SVHN's training set)")
    parser.add_argument("--epoch-steps", type=int_at_least(1), default=20,
                        help="training steps timed for the epoch, scaled to the whole epoch (20)")
    parser.add_argument("--full-epoch", action="store_true",
                        help="time every step of the epoch instead (minutes; float32 stand-in images in memory)")
    parser.add_argument("--dtypes", nargs="+", choices=("float32", "float64"), default=["float32", "float64"])
    parser.add_argument("--threads", type=int_at_least(1), nargs="+", metavar="N",
                        help="one count: run every table with the package, BLAS, OpenMP and torch limited to N "
                             "threads (default: leave them alone); several: time only the training steps, at each "
                             "count, each side in processes of its own, with each side's speed-up")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 3 timed runs, 1 warm-up run, 1 loop run, at most 2 epoch steps; not "
                             "figures to quote")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.loop_repeats = 3, 1, 1
        args.epoch_steps = min(args.epoch_steps, 2)
    return args


def _config(text):
    parts = text.lower().replace(",", "x").split("x")
    if len(parts) != 2 or not all(part.isdigit() and int(part) >= 1 for part in parts):
        raise argparse.ArgumentTypeError(f"expected two positive channel counts like 16x32, got {text!r}")
    return int(parts[0]), int(parts[1])


if __name__ == "__main__":
    main()
