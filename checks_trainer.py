"""Checks of the learner's model.py, optim.py and trainer.py.

Only the assignment's contract is used: `ConvNet(input_shape, n_output_classes, conv1_channels, conv2_channels)`
with `params()`, `compute_loss_and_gradients(X, y)` and `predict(X)`; `SGD().update` and
`MomentumSGD(momentum).update`; `Dataset(train_X, train_y, val_X, val_y)` and `Trainer(model, dataset, optim, ...)`
with `fit()` and `compute_accuracy(X, y)`.

The trainer's checks run it with a fake model and a fake optimizer written here, which record every batch, update
and prediction, so they depend on the learner's trainer.py alone (and the metrics it imports). The learner's model
and trainer may draw from numpy's global random generator, as the template's do: every check that runs them puts
that generator's state back as it found it.
"""
import functools
import itertools
import math
import numbers
import sys

import numpy as np

from checks_base import CheckFailed, Info, assert_close, check, describe, numeric_gradient

INPUT_SHAPE = (32, 32, 3)
N_CLASSES = 10
LN_CLASSES = math.log(N_CLASSES)
FILTER = 3  # the contract's 3x3 convolutions
POOLED = 2  # 32 -> pool 4 -> 8 -> pool 4 -> 2 pixels per side before the fully connected layer
# A loss at initialisation above this is far from ln 10: unit-variance weights give 5-90 with 2 and 2 channels.
INIT_LOSS_LIMIT = 2 * LN_CLASSES
INIT_MODELS = 5
GRADIENT_ENTRIES = 4  # entries of each parameter compared with the numeric gradient
TRAINER_SEED = 12  # the global generator's seed during a trainer check, so a template-like trainer is reproducible
VAL_ID_OFFSET = 100  # sample ids of the validation split start here, apart from the training ids


def _keeps_global_rng(seed=None):
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


@check("ConvNet.params.all_parameters", needs=("model.ConvNet",),
       description="params() holds the six parameters (conv1 W and B, conv2 W and B, fc W and B) under unique "
                   "names, with the architecture's shapes and each grad shaped like its value")
@_keeps_global_rng()
def _convnet_params(modules):
    conv1, conv2 = 2, 4
    model = _convnet(modules, conv1, conv2)
    params = _params(model)
    case = describe(conv1_channels=conv1, conv2_channels=conv2)
    for name, param in params.items():
        if np.shape(param.grad) != np.shape(param.value):
            raise CheckFailed(f"params()[{name!r}].grad has shape {np.shape(param.grad)}, its value "
                              f"{np.shape(param.value)}: every grad must be shaped like its value ({case})")
    objects = {}
    for name, param in params.items():
        if id(param) in objects:
            raise CheckFailed(f"params() lists one parameter twice, as {objects[id(param)]!r} and {name!r} ({case})")
        objects[id(param)] = name
    expected = _expected_shapes(conv1, conv2)
    missing = list(expected)
    extra = []
    for name, param in params.items():
        match = next((wanted for wanted in missing if _shape_fits(param.value, expected[wanted])), None)
        if match is None:
            extra.append(f"{name!r} {np.shape(param.value)}")
        else:
            missing.remove(match)
    if missing or extra:
        wanted = ", ".join(f"{what} {expected[what]}" for what in missing)
        found = (f"params() holds {len(params)} parameters ({', '.join(map(repr, params))}); expected the six "
                 f"of conv 3x3 -> conv 3x3 -> fc with these shapes; missing: {wanted or 'none'}; unexpected: "
                 f"{', '.join(extra) or 'none'} ({case})")
        if len(params) < len(expected):
            found += "; two layers' parameters under the same name keep only the last one"
        raise CheckFailed(found)


@check("ConvNet.compute_loss_and_gradients.gradient", needs=("model.ConvNet",),
       description="the loss is a finite number and every parameter's gradient equals the numeric gradient "
                   "(a sample of entries of each parameter)")
@_keeps_global_rng()
def _convnet_gradient(modules):
    conv1, conv2, batch = 2, 3, 2
    rng = np.random.default_rng(1201)
    model = _convnet(modules, conv1, conv2)
    X, y = _images(rng, batch), np.array([3, 7])
    case = describe(batch=batch, conv1_channels=conv1, conv2_channels=conv2)
    params = _params(model)
    _loss(model, X, y, case)
    analytic = {name: _grad_copy(name, param, case) for name, param in params.items()}
    for name, param in params.items():
        value = param.value
        entries = rng.choice(np.size(value), min(GRADIENT_ENTRIES, np.size(value)), replace=False)

        def loss_at(sampled, value=value, entries=entries, param=param):
            perturbed = np.array(value, dtype=np.float64)
            perturbed.flat[entries] = sampled
            param.value = perturbed
            return _loss(model, X, y, case)
        try:
            numeric = numeric_gradient(loss_at, np.asarray(value, dtype=np.float64).flat[entries])
        finally:
            param.value = value
        assert_close(f"the gradient of params()[{name!r}] at flat entries {entries.tolist()}", numeric,
                     analytic[name].flat[entries], case, rtol=1e-4, atol=1e-7)


@check("ConvNet.compute_loss_and_gradients.grads_zeroed", needs=("model.ConvNet",),
       description="a second call on the same batch gives the same loss and gradients (grads zeroed before "
                   "each pass)")
@_keeps_global_rng()
def _convnet_grads_zeroed(modules):
    conv1, conv2, batch = 2, 3, 2
    rng = np.random.default_rng(1202)
    model = _convnet(modules, conv1, conv2)
    X, y = _images(rng, batch), np.array([1, 8])
    case = describe(batch=batch, conv1_channels=conv1, conv2_channels=conv2)
    params = _params(model)
    first_loss = _loss(model, X, y, case)
    first = {name: _grad_copy(name, param, case) for name, param in params.items()}
    second_loss = _loss(model, X, y, case)
    if not math.isclose(first_loss, second_loss, rel_tol=1e-9, abs_tol=1e-12):
        raise CheckFailed(f"two calls on the same batch gave the losses {first_loss:.6g} and {second_loss:.6g}; "
                          f"expected the same loss ({case})")
    for name, param in params.items():
        second = _grad_copy(name, param, case)
        if np.allclose(second, 2 * first[name], rtol=1e-6, atol=1e-12) and np.any(first[name] != 0):
            raise CheckFailed(f"after a second call on the same batch params()[{name!r}].grad is twice the first "
                              f"call's ({case})", hint="grads_not_zeroed")
        assert_close(f"params()[{name!r}].grad after a second call on the same batch", first[name], second, case,
                     rtol=1e-6, atol=1e-12)


@check("ConvNet.init.initial_loss", needs=("model.ConvNet",),
       description=f"the loss of freshly made models (2 and 2 channels) on random mean-subtracted images is near "
                   f"ln 10 = {LN_CLASSES:.2f}, at most {INIT_LOSS_LIMIT:.2f} (median of {INIT_MODELS} models)")
@_keeps_global_rng()
def _convnet_initial_loss(modules):
    conv1, conv2, batch = 2, 2, 16
    rng = np.random.default_rng(1203)
    X, y = _images(rng, batch), rng.integers(0, N_CLASSES, batch)
    case = describe(batch=batch, conv1_channels=conv1, conv2_channels=conv2, pixels="uniform in [-0.5, 0.5)")
    losses = [_loss(_convnet(modules, conv1, conv2), X, y, case) for _ in range(INIT_MODELS)]
    median = float(np.median(losses))
    if median > INIT_LOSS_LIMIT:
        raise CheckFailed(f"the median loss of {INIT_MODELS} freshly made models is {median:.3g} (losses "
                          f"{', '.join(f'{loss:.3g}' for loss in losses)}); expected near ln 10 = {LN_CLASSES:.2f}, "
                          f"at most {INIT_LOSS_LIMIT:.2f} ({case})", hint="init_scale")


@check("ConvNet.predict.classes", needs=("model.ConvNet",),
       description="predict(X) returns (batch,) integer classes in [0, 10)")
@_keeps_global_rng()
def _convnet_predict_classes(modules):
    conv1, conv2, batch = 2, 2, 5
    model = _convnet(modules, conv1, conv2)
    _predictions(model, _images(np.random.default_rng(1204), batch),
                 describe(batch=batch, conv1_channels=conv1, conv2_channels=conv2))


@check("ConvNet.predict.lowest_loss", needs=("model.ConvNet",),
       description="the class predict() gives each image is the label with the lowest loss (argmax of the scores)")
@_keeps_global_rng()
def _convnet_predict_lowest_loss(modules):
    conv1, conv2, batch = 2, 3, 3
    model = _convnet(modules, conv1, conv2)
    X = _images(np.random.default_rng(1205), batch)
    case = describe(batch=batch, conv1_channels=conv1, conv2_channels=conv2)
    predictions = _predictions(model, X, case)
    for index in range(batch):
        losses = np.array([_loss(model, X[index:index + 1], np.array([label]), case) for label in range(N_CLASSES)])
        predicted = int(predictions[index])
        if losses[predicted] > losses.min() + 1e-9 * max(1.0, abs(losses.min())):
            raise CheckFailed(f"predict() gave class {predicted} to image {index}, whose loss with label {predicted} "
                              f"is {losses[predicted]:.6g}; label {int(losses.argmin())} has the lowest loss, "
                              f"{losses.min():.6g}: predict must return the argmax of the scores ({case})")


@check("SGD.update.formula", needs=("optim.SGD",),
       description="SGD().update(w, d_w, learning_rate) returns w - learning_rate * d_w")
def _sgd_formula(modules):
    rng = np.random.default_rng(1210)
    w, d_w, rate = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), 0.1
    expected = w - rate * d_w
    got = modules.optim.SGD().update(w.copy(), d_w.copy(), rate)
    assert_close("SGD().update's new w", expected, _array(got, "SGD().update", w.shape), describe(shape=w.shape,
                 learning_rate=rate))


@check("MomentumSGD.update.velocity", needs=("optim.MomentumSGD",),
       description="MomentumSGD(momentum=0.9): three steps follow v = momentum * v - learning_rate * d_w; w + v")
def _momentum_velocity(modules):
    _check_momentum_steps(modules.optim.MomentumSGD(momentum=0.9), 0.9, "MomentumSGD(momentum=0.9)")


@check("MomentumSGD.update.momentum_argument", needs=("optim.MomentumSGD",),
       description="MomentumSGD(momentum=0.5) steps with momentum 0.5 (the argument is honoured)")
def _momentum_argument(modules):
    _check_momentum_steps(modules.optim.MomentumSGD(momentum=0.5), 0.5, "MomentumSGD(momentum=0.5)")


@check("MomentumSGD.init.default_momentum", needs=("optim.MomentumSGD",),
       description="MomentumSGD() steps with momentum 0.9")
def _momentum_default(modules):
    _check_momentum_steps(modules.optim.MomentumSGD(), 0.9, "MomentumSGD()")


@check("MomentumSGD.update.per_instance", needs=("optim.MomentumSGD",),
       description="two MomentumSGD instances updating two parameters in turn keep separate velocities")
def _momentum_per_instance(modules):
    rng = np.random.default_rng(1214)
    momentum, rate, steps = 0.9, 0.1, 3
    shape = (3, 4)  # the other checks' shape: a velocity leaked from them shows as wrong values, not a crash
    optimizers = [modules.optim.MomentumSGD(momentum=momentum) for _ in range(2)]
    weights = [rng.standard_normal(shape) for _ in range(2)]
    expected = [weight.copy() for weight in weights]
    velocities = [np.zeros(shape) for _ in range(2)]
    case = describe(shape=shape, momentum=momentum, learning_rate=rate, steps=steps)
    for step in range(1, steps + 1):
        for which in range(2):
            d_w = rng.standard_normal(shape)
            velocities[which] = momentum * velocities[which] - rate * d_w
            expected[which] = expected[which] + velocities[which]
            got = optimizers[which].update(weights[which], d_w, rate)
            weights[which] = _array(got, "MomentumSGD.update", shape)
            assert_close(f"the second instance's w after step {step}" if which else
                         f"the first instance's w after step {step}", expected[which], weights[which],
                         case + ", two instances updated in turn (is the velocity a class attribute or a global?)")


def _check_momentum_steps(optimizer, momentum, made_as):
    """Three steps of `optimizer` against the hand-computed heavy-ball steps, naming the momentum that fits when
    another one does (the hint `momentum_ignored` when that is the template's 0.9)."""
    rng = np.random.default_rng(1211)
    rate, shape = 0.1, (3, 4)
    w = rng.standard_normal(shape)
    gradients = [rng.standard_normal(shape) for _ in range(3)]
    case = describe(optimizer=made_as, shape=shape, learning_rate=rate)
    for step, got in enumerate(_steps(optimizer, w, gradients, rate), start=1):
        expected = _momentum_steps(w, gradients[:step], rate, momentum)
        if np.allclose(got, expected, rtol=1e-7, atol=1e-10):
            continue
        if step == 1:
            assert_close(f"{made_as}'s w after its first step, w - learning_rate * d_w whatever the momentum (the "
                         f"velocity of a new instance starts at zero: is it a class attribute or a global, carried "
                         f"over from other instances?)", expected, got, case)
        fits = [other for other in (0.9, 0.0, 0.5, 0.99)
                if np.allclose(got, _momentum_steps(w, gradients[:step], rate, other), rtol=1e-7, atol=1e-10)]
        if fits and fits[0] == 0.0:
            raise CheckFailed(f"{made_as}: w after step {step} is that of plain SGD steps, without velocity: keep "
                              f"v = momentum * v - learning_rate * d_w between calls and return w + v ({case})")
        if fits:
            # The template's bug: `self.momentum = 0.9` whatever the argument.
            raise CheckFailed(f"{made_as}: w after step {step} is that of momentum {fits[0]}, not {momentum} "
                              f"({case})", hint="momentum_ignored" if fits[0] == 0.9 else None)
        assert_close(f"{made_as}'s w after step {step}", expected, got, case)


def _steps(optimizer, w, gradients, rate):
    """Yield w after each update of `optimizer`, feeding back the returned array as the trainer does."""
    for d_w in gradients:
        w = _array(optimizer.update(w, d_w.copy(), rate), f"{type(optimizer).__name__}.update", w.shape)
        yield w


def _momentum_steps(w, gradients, rate, momentum):
    """w after the heavy-ball steps `v = momentum * v - rate * d_w; w = w + v` over `gradients`, from v = 0."""
    velocity = np.zeros_like(w)
    for d_w in gradients:
        velocity = momentum * velocity - rate * d_w
        w = w + velocity
    return w


@check("Dataset.init.arrays", needs=("trainer.Dataset",),
       description="Dataset(train_X, train_y, val_X, val_y) keeps the four arrays under those names")
def _dataset_arrays(modules):
    rng = np.random.default_rng(1220)
    arrays = {"train_X": rng.standard_normal((6, 4, 5, 3)), "train_y": rng.integers(0, 10, 6),
              "val_X": rng.standard_normal((3, 4, 5, 3)), "val_y": rng.integers(0, 10, 3)}
    dataset = modules.trainer.Dataset(*(array.copy() for array in arrays.values()))
    for name, array in arrays.items():
        if not hasattr(dataset, name):
            raise CheckFailed(f"Dataset(...) has no attribute {name!r}: keep the four arrays as train_X, train_y, "
                              f"val_X, val_y")
        got = getattr(dataset, name)
        if np.shape(got) != array.shape or not np.array_equal(got, array):
            raise CheckFailed(f"Dataset(...).{name} differs from the array given: expected shape {array.shape}, "
                              f"got {type(got).__name__} of shape {np.shape(got)}")


@check("Trainer.fit.histories", needs=("trainer.Trainer",),
       description="fit() returns (loss_history, train_acc_history, val_acc_history), one number per epoch each")
@_keeps_global_rng(TRAINER_SEED)
def _trainer_histories(modules):
    num_epochs = 3
    run = _TrainerRun(modules, n_train=12, batch_size=4, num_epochs=num_epochs)
    _histories(run.fit(), num_epochs, run.case)


@check("Trainer.fit.epoch_loss", needs=("trainer.Trainer",),
       description="each epoch's loss in loss_history is the mean of that epoch's batch losses")
@_keeps_global_rng(TRAINER_SEED)
def _trainer_epoch_loss(modules):
    run = _TrainerRun(modules, n_train=12, batch_size=4, num_epochs=3)
    loss_history = _histories(run.fit(), run.num_epochs, run.case)[0]
    for number, (epoch, got) in enumerate(zip(run.epochs(), loss_history), start=1):
        losses = [loss for _, loss in epoch["batches"]]
        expected = float(np.mean(losses))
        if math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12):
            continue
        raise CheckFailed(f"loss_history[{number - 1}] is {got:.6g}; the batch losses of epoch {number} were "
                          f"{', '.join(f'{loss:g}' for loss in losses)}, whose mean is {expected:.6g} ({run.case})",
                          hint="epoch_loss_last_batch" if math.isclose(got, losses[-1]) else None)


@check("Trainer.fit.every_sample_once", needs=("trainer.Trainer",),
       description="every epoch trains on every training sample exactly once (10 samples, batches of 4)")
@_keeps_global_rng(TRAINER_SEED)
def _trainer_every_sample_once(modules):
    run = _TrainerRun(modules, n_train=10, batch_size=4, num_epochs=2)
    run.fit()
    for number, epoch in enumerate(run.epochs(), start=1):
        seen = _epoch_ids(epoch)
        counts = np.bincount(seen[(seen >= 0) & (seen < run.n_train)], minlength=run.n_train)
        if len(seen) != run.n_train or np.any(counts != 1):
            raise CheckFailed(f"epoch {number} trained on the samples {seen.tolist()} in batches of "
                              f"{[len(ids) for ids, _ in epoch['batches']]}; expected each of the {run.n_train} "
                              f"samples exactly once, the last batch holding the remainder ({run.case}; missing: "
                              f"{np.flatnonzero(counts == 0).tolist()}, repeated: "
                              f"{np.flatnonzero(counts > 1).tolist()})")


@check("Trainer.fit.reshuffled", needs=("trainer.Trainer",),
       description="the order of the training samples changes from one epoch to the next")
@_keeps_global_rng(TRAINER_SEED)
def _trainer_reshuffled(modules):
    run = _TrainerRun(modules, n_train=10, batch_size=4, num_epochs=3)
    run.fit()
    orders = [_epoch_ids(epoch).tolist() for epoch in run.epochs()]
    if all(order == orders[0] for order in orders):
        raise CheckFailed(f"all {len(orders)} epochs trained on the samples in the same order {orders[0]}: "
                          f"shuffle the training set again at the start of every epoch ({run.case})")


@check("Trainer.fit.learning_rate_decay", needs=("trainer.Trainer",),
       description="the learning rate is multiplied by learning_rate_decay after every epoch (0.1, 0.05, 0.025)")
@_keeps_global_rng(TRAINER_SEED)
def _trainer_learning_rate_decay(modules):
    rate, decay = 0.1, 0.5
    run = _TrainerRun(modules, n_train=8, batch_size=4, num_epochs=3, learning_rate=rate, learning_rate_decay=decay)
    run.fit()
    for number, epoch in enumerate(run.epochs(), start=1):
        expected = rate * decay ** (number - 1)
        rates = sorted({update["rate"] for update in epoch["updates"]})
        if not rates or any(not math.isclose(got, expected, rel_tol=1e-9) for got in rates):
            raise CheckFailed(f"the optimizer was given the learning rates {rates} in epoch {number}; expected "
                              f"{expected:g} = {rate:g} * {decay:g}^{number - 1}: multiply the rate by "
                              f"learning_rate_decay after every epoch ({run.case})")


@check("Trainer.fit.optimizer_per_param", needs=("trainer.Trainer",),
       description="each parameter is updated at every step by its own copy of the optimizer, kept across steps")
@_keeps_global_rng(TRAINER_SEED)
def _trainer_optimizer_per_param(modules):
    run = _TrainerRun(modules, n_train=8, batch_size=4, num_epochs=2, param_shapes=((2, 3), (4,)))
    run.fit()
    steps = sum(len(epoch["batches"]) for epoch in run.epochs())
    copies = {}
    for shape in run.param_shapes:
        updates = [update for epoch in run.epochs() for update in epoch["updates"] if update["shape"] == shape]
        if len(updates) != steps:
            raise CheckFailed(f"the parameter of shape {shape} was updated {len(updates)} times in {steps} steps; "
                              f"expected once per step ({run.case})")
        copies[shape] = {update["copy"] for update in updates}
    first, second = (copies[shape] for shape in run.param_shapes)
    if first & second:
        raise CheckFailed(f"one optimizer instance updated both parameters {run.param_shapes}: its state (a "
                          f"velocity) would mix them; give each parameter its own copy (copy.deepcopy(optim)) "
                          f"({run.case})")
    if len(first) > 1 or len(second) > 1:
        raise CheckFailed(f"a parameter was updated by {max(len(first), len(second))} different optimizer copies "
                          f"over {steps} steps; make one copy per parameter once and keep it, so its state "
                          f"(a velocity) carries over ({run.case})")


@check("Trainer.fit.accuracies", needs=("trainer.Trainer",),
       description="train_acc_history and val_acc_history hold the accuracy of model.predict on the training and "
                   "validation sets")
@_keeps_global_rng(TRAINER_SEED)
def _trainer_accuracies(modules):
    run = _TrainerRun(modules, n_train=10, batch_size=4, num_epochs=2)
    _, train_history, val_history = _histories(run.fit(), run.num_epochs, run.case)
    for name, history, expected in (("train_acc_history", train_history, run.train_accuracy),
                                    ("val_acc_history", val_history, run.val_accuracy)):
        X, y = (run.dataset.train_X, run.dataset.train_y) if name.startswith("train") else \
            (run.dataset.val_X, run.dataset.val_y)
        excuse = _wrong_metric(_ids(X) % 3, y, expected, history)
        if excuse:
            return Info(f"{name}: {excuse}")
        assert_close(name, [expected] * run.num_epochs, history, run.case + f", predict right on {expected:g} of "
                     f"the {'training' if name.startswith('train') else 'validation'} samples", rtol=0, atol=1e-9)


@check("Trainer.compute_accuracy.value", needs=("trainer.Trainer",),
       description="compute_accuracy(X, y) is the fraction of predict's classes equal to y (10 samples, batches "
                   "of 4)")
@_keeps_global_rng(TRAINER_SEED)
def _trainer_compute_accuracy(modules):
    run = _TrainerRun(modules, n_train=10, batch_size=4, num_epochs=1)
    got = run.trainer.compute_accuracy(run.dataset.train_X, run.dataset.train_y)
    if not isinstance(got, numbers.Real) and not (isinstance(got, np.ndarray) and got.ndim == 0):
        raise CheckFailed(f"compute_accuracy returned {type(got).__name__}; expected a number ({run.case})")
    excuse = _wrong_metric(_ids(run.dataset.train_X) % 3, run.dataset.train_y, run.train_accuracy, [got])
    if excuse:
        return Info(f"compute_accuracy: {excuse}")
    assert_close("compute_accuracy", run.train_accuracy, float(got), run.case + f", predict right on "
                 f"{run.train_accuracy:g} of the samples", rtol=0, atol=1e-9)


class _Param:
    """A parameter of the fake model: `value` and `grad`, as the contract's Param."""

    def __init__(self, value):
        self.value = value
        self.grad = np.zeros_like(value)


class _FakeModel:
    """A model whose every call is recorded in `log`: sample ids come in as the pixel values of X.

    compute_loss_and_gradients returns 1, 2, 3, ... (one known loss per batch) and sets each grad to ones;
    predict returns id % 3.
    """

    def __init__(self, log, param_shapes):
        self.log = log
        self._params = {f"p{index}": _Param(np.zeros(shape)) for index, shape in enumerate(param_shapes)}

    def params(self):
        return dict(self._params)

    def compute_loss_and_gradients(self, X, y):
        loss = float(sum(event[0] == "batch" for event in self.log) + 1)
        self.log.append(("batch", _ids(X), loss))
        for param in self._params.values():
            param.grad = np.ones_like(param.value)
        return loss

    def predict(self, X):
        ids = _ids(X)
        self.log.append(("predict", ids))
        return ids % 3


def _fake_optimizer(log):
    """An instance of a fresh optimizer class that records each update (which copy, shape, rate) in `log`.

    Each copy of the instance draws its own number at its first update, and copies made of it later keep it, so
    the number follows the optimizer's state: two parameters updated under one number share one state.
    """
    numbers_drawn = itertools.count()

    class FakeOptimizer:
        def __init__(self):
            self.number = None

        def update(self, w, d_w, learning_rate):
            if self.number is None:
                self.number = next(numbers_drawn)
            log.append(("update", {"copy": self.number, "shape": np.shape(w), "rate": float(learning_rate)}))
            return np.asarray(w) - learning_rate * np.asarray(d_w)

    return FakeOptimizer()


class _TrainerRun:
    """The learner's Trainer on the fake model, a plain dataset object and the fake optimizer.

    Training samples have ids 0..n_train-1, validation samples VAL_ID_OFFSET...; labels are set so that the fake
    model's predictions are right on about 60% of the training samples and 40% of the validation ones.
    """

    def __init__(self, modules, n_train, batch_size, num_epochs, learning_rate=0.1, learning_rate_decay=1.0,
                 param_shapes=((3,),)):
        self.n_train, self.num_epochs, self.param_shapes = n_train, num_epochs, param_shapes
        self.log = []
        train_ids, val_ids = np.arange(n_train), VAL_ID_OFFSET + np.arange(5)
        (train_y, self.train_accuracy), (val_y, self.val_accuracy) = _labels(train_ids, 0.6), _labels(val_ids, 0.4)
        self.dataset = _Split(_samples(train_ids), train_y, _samples(val_ids), val_y)
        self.case = describe(training_samples=n_train, batch_size=batch_size, num_epochs=num_epochs,
                             learning_rate=learning_rate, learning_rate_decay=learning_rate_decay)
        self.trainer = modules.trainer.Trainer(_FakeModel(self.log, param_shapes), self.dataset,
                                               _fake_optimizer(self.log), num_epochs=num_epochs,
                                               batch_size=batch_size, learning_rate=learning_rate,
                                               learning_rate_decay=learning_rate_decay)

    def fit(self):
        return self.trainer.fit()

    def epochs(self):
        """The recorded calls cut into epochs: each a run of training steps, up to the predictions after it.

        Returns a list of num_epochs dicts with "batches" [(ids, loss)] and "updates" [update dict]; raises
        CheckFailed when the trainer ran another number of epochs.
        """
        epochs, evaluating = [], True
        for event in self.log:
            if event[0] == "predict":
                evaluating = True
                continue
            if evaluating:
                epochs.append({"batches": [], "updates": []})
                evaluating = False
            if event[0] == "batch":
                epochs[-1]["batches"].append(event[1:])
            else:
                epochs[-1]["updates"].append(event[1])
        if len(epochs) != self.num_epochs:
            raise CheckFailed(f"fit() ran {len(epochs)} epochs (runs of training steps, each followed by the "
                              f"accuracy's predictions); expected num_epochs = {self.num_epochs} ({self.case})")
        return epochs


class _Split:
    """A dataset as the trainer sees it: four arrays as attributes (independent of the learner's Dataset)."""

    def __init__(self, train_X, train_y, val_X, val_y):
        self.train_X, self.train_y, self.val_X, self.val_y = train_X, train_y, val_X, val_y


def _samples(ids):
    """Images of shape (n, 2, 2, 1) whose every pixel is the sample's id."""
    return np.broadcast_to(np.asarray(ids, dtype=np.float64)[:, None, None, None], (len(ids), 2, 2, 1)).copy()


def _labels(ids, accuracy):
    """Labels equal to the fake model's prediction (id % 3) on about `accuracy` of `ids` (the first ones), and the
    accuracy they give."""
    right = round(accuracy * len(ids))
    return np.where(np.arange(len(ids)) < right, ids % 3, (ids + 1) % 3).astype(np.int64), right / len(ids)


def _ids(X):
    """The sample ids of a batch built by `_samples`; CheckFailed for anything else."""
    X = np.asarray(X)
    if X.ndim != 4 or X.shape[1:] != (2, 2, 1) or not np.issubdtype(X.dtype, np.number):
        raise CheckFailed(f"the trainer gave the model a batch of shape {X.shape} and dtype {X.dtype}; expected "
                          f"rows of the dataset's train_X / val_X, shape (batch, 2, 2, 1)")
    return np.rint(X[:, 0, 0, 0]).astype(np.int64)


def _epoch_ids(epoch):
    """The ids of the samples an epoch trained on, in order: (n,) int."""
    return np.concatenate([np.empty(0, dtype=np.int64)] + [ids for ids, _ in epoch["batches"]])


def _histories(returned, num_epochs, case):
    """fit()'s three histories as lists of floats, after checking there are three of num_epochs numbers each."""
    names = ("loss_history", "train_acc_history", "val_acc_history")
    if not isinstance(returned, (tuple, list)) or len(returned) != 3:
        raise CheckFailed(f"fit() returned {type(returned).__name__}; expected a tuple (loss_history, "
                          f"train_acc_history, val_acc_history) ({case})")
    histories = []
    for name, history in zip(names, returned):
        values = np.asarray(history) if isinstance(history, (list, tuple, np.ndarray)) else None
        if values is None or values.shape != (num_epochs,) or not np.issubdtype(values.dtype, np.number):
            raise CheckFailed(f"fit()'s {name} is {history!r:.120}; expected a list of {num_epochs} numbers, one "
                              f"per epoch ({case})")
        histories.append([float(value) for value in values])
    return histories


def _convnet(modules, conv1_channels, conv2_channels):
    """The learner's ConvNet for 32x32x3 images and 10 classes, made as the notebook makes it."""
    return modules.model.ConvNet(input_shape=INPUT_SHAPE, n_output_classes=N_CLASSES,
                                 conv1_channels=conv1_channels, conv2_channels=conv2_channels)


def _images(rng, batch):
    """Random images like the notebook's (scaled to [0, 1], mean subtracted): (batch, 32, 32, 3) in [-0.5, 0.5)."""
    return rng.uniform(-0.5, 0.5, (batch, *INPUT_SHAPE))


def _wrong_metric(predictions, labels, expected, reported):
    """Why a trainer's accuracies cannot be judged, or None: the learner's own metrics.multiclass_accuracy (which
    their trainer imports) gives `reported` (every entry) instead of `expected` on these predictions."""
    accuracy = getattr(sys.modules.get("metrics"), "multiclass_accuracy", None)
    if accuracy is None:
        return None
    try:
        theirs = float(accuracy(predictions, labels))
    except Exception:  # a broken metric is multiclass_accuracy's checks' business; judge the trainer as it is
        return None
    if math.isclose(theirs, expected, abs_tol=1e-9) or not all(
            math.isclose(float(value), theirs, abs_tol=1e-9) for value in reported):
        return None
    return (f"not judged: your metrics.multiclass_accuracy gives {theirs:g} where the accuracy is {expected:g} "
            f"(see the multiclass_accuracy checks), and the trainer reports what it gives")


def _expected_shapes(conv1, conv2):
    """The shape of each parameter of the contract's ConvNet, by what it is."""
    return {"conv1 W": (FILTER, FILTER, INPUT_SHAPE[2], conv1), "conv1 B": (conv1,),
            "conv2 W": (FILTER, FILTER, conv1, conv2), "conv2 B": (conv2,),
            "fc W": (POOLED * POOLED * conv2, N_CLASSES), "fc B": (1, N_CLASSES)}


def _shape_fits(value, shape):
    """Weights must have their exact shape; a bias may carry extra axes of length 1 ((F,) or (1, F) alike)."""
    if len(shape) > 1 and shape[0] != 1:
        return np.shape(value) == shape
    return np.size(value) == shape[-1] and max(np.shape(value), default=0) == shape[-1]


def _params(model):
    """model.params(), checked to be a dict of objects with ndarray .value and .grad."""
    params = model.params()
    if not isinstance(params, dict):
        raise CheckFailed(f"params() returned {type(params).__name__}; expected a dict of name -> Param")
    for name, param in params.items():
        for attribute in ("value", "grad"):
            if not isinstance(getattr(param, attribute, None), np.ndarray):
                raise CheckFailed(f"params()[{name!r}] has no ndarray .{attribute}; expected a Param with .value "
                                  f"and .grad arrays")
    return params


def _grad_copy(name, param, case):
    """A float64 copy of param.grad, checked to be shaped like param.value."""
    if np.shape(param.grad) != np.shape(param.value):
        raise CheckFailed(f"params()[{name!r}].grad has shape {np.shape(param.grad)}, its value "
                          f"{np.shape(param.value)} ({case})")
    return np.array(param.grad, dtype=np.float64)


def _loss(model, X, y, case):
    """model.compute_loss_and_gradients(X, y), checked to be one finite number."""
    loss = model.compute_loss_and_gradients(X, y)
    if np.ndim(loss) != 0 or not np.issubdtype(np.asarray(loss).dtype, np.number):
        raise CheckFailed(f"compute_loss_and_gradients returned {type(loss).__name__} of shape {np.shape(loss)}; "
                          f"expected one number, the batch's mean loss ({case})")
    loss = float(np.real(loss))
    if not math.isfinite(loss):
        raise CheckFailed(f"compute_loss_and_gradients returned {loss}; expected a finite loss ({case})")
    return loss


def _predictions(model, X, case):
    """model.predict(X), checked to be (batch,) integers in [0, 10)."""
    got = model.predict(X)
    predictions = np.asarray(got)
    if predictions.shape != (X.shape[0],) or not np.issubdtype(predictions.dtype, np.integer):
        raise CheckFailed(f"predict returned {type(got).__name__} of shape {predictions.shape} and dtype "
                          f"{predictions.dtype}; expected ({X.shape[0]},) integer classes ({case})")
    if predictions.min() < 0 or predictions.max() >= N_CLASSES:
        raise CheckFailed(f"predict returned classes {predictions.tolist()}; expected classes in [0, {N_CLASSES}) "
                          f"({case})")
    return predictions


def _array(got, what, shape):
    """`got` as an array of `shape`; CheckFailed for anything else (a list, a None, another shape)."""
    if not isinstance(got, np.ndarray) or got.shape != shape:
        raise CheckFailed(f"{what} returned {type(got).__name__} of shape {np.shape(got)}; expected an array of "
                          f"shape {shape}, the new w")
    return got
