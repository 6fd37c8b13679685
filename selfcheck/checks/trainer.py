"""Checks of the learner's trainer.py.

Only the assignment's contract is used: `Dataset(train_X, train_y, val_X, val_y)` and
`Trainer(model, dataset, optim, ...)` with `fit()` and `compute_accuracy(X, y)`.

The checks run the trainer with a fake model and a fake optimizer written here, which record every batch, update
and prediction, so they depend on the learner's trainer.py alone (and the metrics it imports). The learner's trainer
may draw from numpy's global random generator, as the template's does: every check that runs it seeds that generator
and puts its state back as it found it.
"""
import itertools
import math
import numbers
import sys

import numpy as np

from selfcheck.base import CheckFailed, Info, assert_close, check, describe
from selfcheck.tools import keeps_global_rng

TRAINER_SEED = 12  # the global generator's seed during a trainer check, so a template-like trainer is reproducible
VAL_ID_OFFSET = 100  # sample ids of the validation split start here, apart from the training ids


def _trainer_check(check_id, description):
    """`check` for a check that runs the learner's Trainer: numpy's global generator is seeded with TRAINER_SEED
    during the check and put back as it was after it."""
    def register(function):
        return check(check_id, needs=("trainer.Trainer",), description=description)(
            keeps_global_rng(TRAINER_SEED)(function))
    return register


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


@_trainer_check("Trainer.fit.histories",
               "fit() returns (loss_history, train_acc_history, val_acc_history), one number per epoch each")
def _trainer_histories(modules):
    num_epochs = 3
    run = _TrainerRun(modules, n_train=12, batch_size=4, num_epochs=num_epochs)
    _histories(run.fit(), num_epochs, run.case)


@_trainer_check("Trainer.fit.epoch_loss",
               "each epoch's loss in loss_history is the mean of that epoch's batch losses")
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


@_trainer_check("Trainer.fit.every_sample_once",
               "every epoch trains on every training sample exactly once (10 samples, batches of 4)")
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


@_trainer_check("Trainer.fit.reshuffled",
               "the order of the training samples changes from one epoch to the next")
def _trainer_reshuffled(modules):
    run = _TrainerRun(modules, n_train=10, batch_size=4, num_epochs=3)
    run.fit()
    orders = [_epoch_ids(epoch).tolist() for epoch in run.epochs()]
    if all(order == orders[0] for order in orders):
        advice = ("shuffle the training set again at the start of every epoch" if orders[0] == sorted(orders[0]) else
                  "the order is shuffled but the same in every epoch: shuffle anew in each epoch, and do not reseed "
                  "the random generator inside fit (np.random.seed before each shuffle repeats it)")
        raise CheckFailed(f"all {len(orders)} epochs trained on the samples in the same order {orders[0]}: {advice} "
                          f"({run.case})")


@_trainer_check("Trainer.fit.learning_rate_decay",
               "the learning rate is multiplied by learning_rate_decay after every epoch (0.1, 0.05, 0.025)")
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


@_trainer_check("Trainer.fit.optimizer_per_param",
               "each parameter is updated at every step by its own copy of the optimizer, kept across steps")
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


@_trainer_check("Trainer.fit.accuracies",
               "train_acc_history and val_acc_history hold the accuracy of model.predict on the training and "
               "validation sets")
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


@_trainer_check("Trainer.compute_accuracy.value",
               "compute_accuracy(X, y) is the fraction of predict's classes equal to y (10 samples, batches "
               "of 4)")
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
