"""Mini-batch training: `Dataset` holds the splits, `Trainer` runs the epochs.

The trainer works with any model that has `params() -> {name: Param}`, `compute_loss_and_gradients(X, y) -> float`
(which fills every `Param.grad`) and `predict(X) -> (batch,)` class indices, not only `ConvNet`. A model that also
has `train()` / `eval()` (a `Sequential` with BatchNorm or Dropout) is put in training mode for the steps and in
evaluation mode to measure accuracy; `fit` leaves it in evaluation mode. A model with `buffers()` gets them back as
they were when a step fails or is interrupted, like its parameters.

The rate of each epoch comes from `learning_rate` and either `learning_rate_decay` (multiplied in after every epoch)
or a `schedule` (a function of the epoch, see schedules.py); a `transform` (see augment.py) changes every training
batch, never the images accuracy is measured on.
"""
import copy
import numbers
import os
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from checkpoint import best_checkpoint_path, is_checkpoint, load_training_state, save_model
from dataset import Dataset, check_dataset  # noqa: F401  (Dataset: the assignment's `from trainer import Dataset`)
from metrics import multiclass_accuracy
from training_state import (
    check_state_keys,
    checked_arrays,
    layer_generator_states,
    loaded_layer_generators,
    loaded_optimizers,
)
from validation import check_finite, check_int, check_number, check_output_file, check_rng, check_samples

DIVERGENCE_THRESHOLD = 1e3


class TrainingDivergedError(FloatingPointError):
    """Training met a non-finite or exploding loss, or an update that made a parameter non-finite.

    The step was not applied: the model and the optimizers keep their state from before it, so `fit()` can be
    called again after lowering `trainer.learning_rate`.

    Attributes
    ----------
    epoch, batch : int
        Where it happened, both counted from 1.
    reason : str
        What went wrong, without the advice of the message, e.g. "the loss is nan".
    """

    def __init__(self, message, epoch, batch, reason=None):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.reason = message if reason is None else reason


class Trainer:
    """Trains `model` on `dataset` with mini-batch gradient descent; `fit()` returns the assignment's histories.

    The options beyond the assignment's, and the rules on checkpoints and resuming, are in docs/training.md.

    Parameters
    ----------
    model : object with params(), compute_loss_and_gradients(X, y) and predict(X), e.g. ConvNet
        With train() / eval() (Sequential, ConvNet) it is put in training mode for its steps, in evaluation mode
        to measure accuracy.
    dataset : Dataset, or any object with train_X, train_y, val_X, val_y
    optim : optimizer instance, e.g. SGD() or Adam()
        Deep-copied once per parameter; `update` must return a new array (those of optim.py do).
    num_epochs : int
        Epochs run by each call of `fit()`.
    batch_size : int
        Samples per step; the last batch of an epoch holds the remainder.
    learning_rate : float > 0
        The rate of the next epoch; with a `schedule`, the base rate it multiplies.
    learning_rate_decay : float in (0, 1]
        Multiplies the rate after every epoch; 1.0 when a `schedule` is given.
    seed : None, int or numpy.random.Generator, keyword-only
        Source of the shuffling and of the `transform`'s randomness (never the global numpy RNG).
    schedule : None or callable epoch -> factor >= 0, keyword-only
        Epoch e (from 1, over all `fit` calls) runs at `learning_rate * schedule(e)`, e.g. `StepDecay(5, 0.2)`.
    transform : None or callable (X_batch, rng) -> X_batch, keyword-only
        Applied to a copy of every training batch (e.g. `augment.DIGITS`); same shape and dtype, finite values.
        Accuracy is always measured on untransformed images.
    verbose : bool, keyword-only
        A progress bar per epoch where it can redraw (a terminal, Jupyter) and one summary line per epoch.
    restore_best : bool, keyword-only
        Put back the parameters of the best validation epoch when `fit` ends.
    patience : None or int >= 1, keyword-only
        Stop after this many epochs in a row without a better validation accuracy.
    checkpoint_path : None, str or os.PathLike, keyword-only
        Save the model and the training state here after every epoch, and the best epoch's model beside it
        (`model.npz` -> `model.best.npz`). Files an earlier run left there are not replaced unless
        `overwrite_checkpoint`; files that are not checkpoints of this package never are.
    overwrite_checkpoint : bool, keyword-only
    divergence_threshold : None or float > 1, keyword-only
        Stop with `TrainingDivergedError` when a batch loss exceeds this many times the larger of the first
        batch's loss and 1 (None: only on a non-finite loss or parameter).

    Attributes
    ----------
    history : list of dict
        One dict per completed epoch: epoch (from 1), loss (mean over the epoch's batches), train_acc, val_acc,
        lr, seconds.
    epoch : int
        Completed epochs so far, over all `fit` calls.
    learning_rate : float
        The rate (or base rate) of the next epoch.
    best_val_accuracy, best_epoch : float and int, or None before the first epoch
    reference_loss : float, or None before the first step
    interrupted, stopped_early : bool
        How the last `fit` call ended.

    `state_dict()` / `load_state_dict(state)` and `save_checkpoint(path)` / `load_checkpoint(path)` carry the
    whole training state: a run stopped and continued gives the weights and history of one never stopped.
    """

    def __init__(self, model, dataset, optim, num_epochs=20, batch_size=20, learning_rate=1e-3,
                 learning_rate_decay=1.0, *, seed=None, verbose=True, restore_best=False, patience=None,
                 checkpoint_path=None, divergence_threshold=DIVERGENCE_THRESHOLD, schedule=None, transform=None,
                 overwrite_checkpoint=False):
        self.model = _check_model(model)
        self.dataset = check_dataset(dataset)
        if isinstance(optim, type) or not callable(getattr(optim, "update", None)):
            raise TypeError(f"`optim` must be an optimizer instance with an update(w, d_w, learning_rate) method, "
                            f"e.g. SGD(), got {optim!r}")
        self.optim = optim
        self.num_epochs = check_int(num_epochs, "num_epochs", 1)
        self.batch_size = check_int(batch_size, "batch_size", 1)
        self.learning_rate = check_number(learning_rate, "learning_rate", minimum=0, strict_minimum=True)
        self.learning_rate_decay = check_number(learning_rate_decay, "learning_rate_decay", minimum=0, maximum=1,
                                                strict_minimum=True)
        self.schedule = _check_schedule(schedule, self.learning_rate_decay)
        if transform is not None and not callable(transform):
            raise TypeError(f"`transform` must be None or a callable (X_batch, rng) -> X_batch, e.g. augment.DIGITS, "
                            f"got {transform!r}")
        self.transform = transform
        self._rng = check_rng(seed)
        self.verbose = _check_flag(verbose, "verbose")
        self.restore_best = _check_flag(restore_best, "restore_best")
        self.patience = None if patience is None else check_int(patience, "patience", 1)
        self.checkpoint_path, self.best_checkpoint_path = _check_checkpoint_path(checkpoint_path, model)
        self.overwrite_checkpoint = _check_flag(overwrite_checkpoint, "overwrite_checkpoint")
        self.divergence_threshold = (None if divergence_threshold is None else
                                     check_number(divergence_threshold, "divergence_threshold", minimum=1,
                                                  strict_minimum=True))

        self.optimizers = {name: copy.deepcopy(optim) for name in model.params()}
        self.history = []
        self.epoch = 0
        self.best_val_accuracy = None
        self.best_epoch = None
        self.reference_loss = None
        self.interrupted = False
        self.stopped_early = False
        self._best_params = None
        self._epochs_without_improvement = 0
        self._own_files = set()  # the checkpoint files this Trainer wrote or continues, which it may replace
        self._snapshot = None  # what changes within an epoch, as it was at the end of the last completed one

    def fit(self, num_epochs=None):
        """Train for `num_epochs` more epochs (default `self.num_epochs`), reshuffling the training set each epoch.

        Calling `fit` again continues where the last call stopped: same optimizer state, learning rate, epoch
        count and patience count (restarted after an early stop). Ctrl-C (KeyboardInterrupt) stops training
        cleanly: the model keeps the parameters of its last completed step (or the best ones with `restore_best`),
        `state_dict()` those of the last completed epoch, and the completed epochs are returned.

        Returns
        -------
        loss_history, train_acc_history, val_acc_history : list of float
            One entry per epoch completed by this call.

        Raises
        ------
        TrainingDivergedError (a FloatingPointError)
            On a non-finite loss or parameter, or a loss above the `divergence_threshold` rule; names the epoch and
            batch. The model keeps the parameters from before the bad step.
        FileExistsError
            Before any step, when `checkpoint_path` or its best-epoch sibling holds a file this Trainer did not
            write and `overwrite_checkpoint` is False, or a file that is not a checkpoint of this package.
        ValueError
            Before any step, when the dataset's samples are not finite (they may have been replaced since the
            trainer was made) or the schedule gives a negative or non-finite factor for an epoch of this call; during
            training, when the `transform` returns non-finite values or an array of another shape (TypeError for
            another type or dtype), with the step not taken.
        """
        num_epochs = self.num_epochs if num_epochs is None else check_int(num_epochs, "num_epochs", 1)
        check_dataset(self.dataset)
        last_epoch = self.epoch + num_epochs
        for epoch in range(self.epoch + 1, last_epoch + 1):
            self._factor(epoch)
        self._check_checkpoint_files()
        if self._snapshot is None:
            self._snapshot = self._take_snapshot()
        first_record = len(self.history)
        if self.stopped_early:
            self._epochs_without_improvement = 0
        self.interrupted = self.stopped_early = False
        try:
            # One bar for the whole call, reset every epoch: a notebook shows one widget, not one per epoch.
            with self._progress_bar(last_epoch) as progress:
                while self.epoch < last_epoch and not self.stopped_early:
                    self._run_epoch(last_epoch, progress)
        except KeyboardInterrupt:
            self.interrupted = True
            self._say(f"Training interrupted: returning the {len(self.history) - first_record} epochs this fit() "
                      f"completed; the model keeps the parameters of its last completed step.")
        if self.restore_best and self._best_params is not None:
            for name, param in self.model.params().items():
                param.value = self._best_params[name].copy()
            self._say(f"Restored the parameters of epoch {self.best_epoch} "
                      f"(val accuracy {self.best_val_accuracy:.4f}).")
        records = self.history[first_record:]
        return ([record["loss"] for record in records], [record["train_acc"] for record in records],
                [record["val_acc"] for record in records])

    def compute_accuracy(self, X, y):
        """Accuracy of `model.predict` on X, predicted in mini-batches of `batch_size`.

        Parameters
        ----------
        X : ndarray of shape (n_samples, ...)
        y : ndarray of shape (n_samples,), class indices

        Returns
        -------
        float in [0, 1]
        """
        X, y = check_samples(X, y, "X", "y")
        predictions = [self.model.predict(X[start:start + self.batch_size])
                       for start in range(0, X.shape[0], self.batch_size)]
        return multiclass_accuracy(np.concatenate(predictions), y)

    def _progress_bar(self, last_epoch):
        """The bar of a fit call ending at `last_epoch`, shown from the first epoch's start (a bar without a total
        would show an empty '0batch' line first); disabled unless verbose and stderr can redraw it."""
        n_batches = -(-np.shape(self.dataset.train_y)[0] // self.batch_size)
        return tqdm(total=n_batches, desc=f"Epoch {self.epoch + 1}/{last_epoch}", unit="batch", leave=False,
                    disable=not (self.verbose and _can_redraw(sys.stderr)))

    def state_dict(self):
        """The training state at the end of the last completed epoch (now, before any), for `load_state_dict`.

        Returns
        -------
        dict
            epoch, learning_rate, history, best_val_accuracy, best_epoch, reference_loss,
            epochs_without_improvement, stopped_early; params and buffers ({name: ndarray}, the values training
            continues from: with `restore_best` the model itself may hold the best ones), best_params (None or
            {name: ndarray}), optimizers ({parameter name: optimizer.state_dict()}; left out when the optimizer has
            no `state_dict()`, and a Trainer loading the state then starts its optimizers from zero), rng (the
            generator's `bit_generator.state`) and layer_rngs ({layer name: its generator's state, or
            training_state.SHARED_GENERATOR when the layer draws from the Trainer's}, for Dropout's masks).
            Copies: JSON values and ndarrays only, as `checkpoint.save_model` stores them.
        """
        snapshot = copy.deepcopy(self._snapshot or self._take_snapshot())
        optimizers = snapshot.pop("optimizers")
        if all(callable(getattr(optimizer, "state_dict", None)) for optimizer in optimizers.values()):
            snapshot["optimizers"] = {name: optimizer.state_dict() for name, optimizer in optimizers.items()}
        best = self._best_params
        return {"epoch": self.epoch, "learning_rate": self.learning_rate, "history": copy.deepcopy(self.history),
                "best_val_accuracy": self.best_val_accuracy, "best_epoch": self.best_epoch,
                "reference_loss": self.reference_loss, "epochs_without_improvement": self._epochs_without_improvement,
                "stopped_early": self.stopped_early, **snapshot,
                "best_params": None if best is None else {name: value.copy() for name, value in best.items()}}

    def load_state_dict(self, state):
        """Go on from `state` (from `state_dict()` of a Trainer with the same model architecture and settings).

        The model's parameters and buffers, the optimizers' state, the generator, the epoch count, the rate, the
        history and the best-epoch tracking are all replaced; everything is checked first, nothing changes on an
        error. `state` may lack "optimizers": the optimizers then start from zero.

        Raises
        ------
        TypeError, ValueError
            When `state` is not such a dict, or does not fit this model or optimizer (the message names the entry).
        """
        check_state_keys(state)
        params = checked_arrays(state["params"], {name: p.value for name, p in self.model.params().items()},
                                 "parameter")
        buffers = checked_arrays(state["buffers"], self._buffers(), "buffer")
        best = None if state["best_params"] is None else checked_arrays(state["best_params"], params, "parameter")
        optimizers = loaded_optimizers(self.optim, self.model.params(), state.get("optimizers"))
        layer_generators = loaded_layer_generators(self.model, state.get("layer_rngs"), self._rng)
        rng = copy.deepcopy(self._rng)
        try:
            rng.bit_generator.state = state["rng"]
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"`state['rng']` is not a state of this Trainer's generator "
                             f"({type(rng.bit_generator).__name__}): {error}") from None
        for name, param in self.model.params().items():
            param.value = params[name].astype(param.value.dtype)
        for name, buffer in self._buffers().items():
            buffer[...] = buffers[name]
        self.optimizers = optimizers
        self._rng.bit_generator.state = rng.bit_generator.state
        for name, generator in layer_generators.items():
            self.model.layers[name].rng = generator
        self.epoch, self.learning_rate = state["epoch"], state["learning_rate"]
        self.history = copy.deepcopy(list(state["history"]))
        self.best_val_accuracy, self.best_epoch = state["best_val_accuracy"], state["best_epoch"]
        self.reference_loss = state["reference_loss"]
        self._epochs_without_improvement = state["epochs_without_improvement"]
        self.stopped_early = bool(state["stopped_early"])
        self._best_params = best
        self._snapshot = self._take_snapshot()

    def save_checkpoint(self, path, *, overwrite=False):
        """Write the model and the training state (`state_dict()`) to `path` with `checkpoint.save_model`, whose
        rules apply: a checkpoint there is replaced only with `overwrite=True`, another kind of file never."""
        save_model(self.model, path, training_state=self.state_dict(), overwrite=overwrite)

    def load_checkpoint(self, path):
        """Go on from the training state saved in `path` (by `save_checkpoint`, at a `checkpoint_path` or as
        `model.npz` of a `train.py` run), see `load_state_dict`. Continuing the run of this Trainer's own
        `checkpoint_path` lets `fit` replace that file and its best-epoch sibling.

        Raises
        ------
        ValueError
            When `path` holds no training state (a checkpoint of a model only) or one that does not fit.
        """
        state = load_training_state(path)
        path = os.fspath(path)
        if state is None:
            raise ValueError(f"{path} holds no training state (only a model): load its parameters with "
                             f"checkpoint.load_params; the optimizers then start from zero")
        state.pop("settings", None)  # what train.py adds for itself
        try:
            self.load_state_dict(state)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{path}: {error}") from None
        if self.checkpoint_path is not None and os.path.samefile(path, self.checkpoint_path):
            self._own_files.update((self.checkpoint_path, self.best_checkpoint_path))

    def _run_epoch(self, last_epoch, progress):
        """One pass over the shuffled training set, then the epoch's record, best tracking and checkpoints."""
        epoch = self.epoch + 1
        rate = self._epoch_rate(epoch)
        start_time = time.perf_counter()
        X, y = np.asarray(self.dataset.train_X), np.asarray(self.dataset.train_y)
        order = self._rng.permutation(X.shape[0])
        batches = [order[start:start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        loss_sum = 0.0
        self._set_mode("train")
        progress.set_description(f"Epoch {epoch}/{last_epoch}", refresh=False)
        progress.set_postfix_str("", refresh=False)  # not the loss of the epoch before
        progress.reset(total=len(batches))
        for batch, indices in enumerate(batches, start=1):
            loss_sum += self._train_step(self._transform_batch(X[indices]), y[indices], epoch, batch, rate)
            progress.set_postfix(loss=f"{loss_sum / batch:.4f}", refresh=False)
            progress.update()

        self._set_mode("eval")
        record = {"epoch": epoch, "loss": loss_sum / len(batches), "train_acc": self.compute_accuracy(X, y),
                  "val_acc": self.compute_accuracy(self.dataset.val_X, self.dataset.val_y),
                  "lr": rate, "seconds": time.perf_counter() - start_time}
        self.history.append(record)
        self.epoch = epoch
        self.learning_rate *= self.learning_rate_decay
        self._say(f"Epoch {epoch}/{last_epoch}: loss {record['loss']:.4f}, train acc {record['train_acc']:.4f}, "
                  f"val acc {record['val_acc']:.4f}, {record['seconds']:.2f} s")
        self._track_best(record)
        self._snapshot = self._take_snapshot()
        if self.checkpoint_path is not None:
            self._save(self.checkpoint_path, self.state_dict())

    def _train_step(self, X, y, epoch, batch, rate):
        """Loss and gradients on one batch, then the update of every parameter; returns the batch's loss.

        Nothing changes until every new value is known to be finite, so an error or an interrupt leaves the model
        (its parameters and buffers such as BatchNorm's running statistics) and the optimizers as they were
        before the step.
        """
        buffers = self._buffers()
        saved_buffers = {name: buffer.copy() for name, buffer in buffers.items()}
        try:
            loss = float(self.model.compute_loss_and_gradients(X, y))
            self._check_loss(loss, epoch, batch)
            params = self.model.params()
            optimizers = copy.deepcopy(self.optimizers)
            values = {name: optimizers[name].update(param.value, param.grad, rate)
                      for name, param in params.items()}
            non_finite = [name for name, value in values.items() if not np.all(np.isfinite(value))]
            if non_finite:
                raise self._diverged(epoch, batch,
                                     f"the update made {', '.join(non_finite)} non-finite (loss {loss:.4g})")
        except BaseException:
            for name, buffer in buffers.items():
                buffer[...] = saved_buffers[name]
            raise
        previous = {name: param.value for name, param in params.items()}
        try:
            for name, param in params.items():
                param.value = values[name]
            self.optimizers = optimizers
        except BaseException:
            # An interrupt between two assignments would leave parameters from two different steps.
            for name, param in params.items():
                param.value = previous[name]
            for name, buffer in buffers.items():
                buffer[...] = saved_buffers[name]
            raise
        return loss

    def _factor(self, epoch):
        """The schedule's factor for `epoch`, checked to be a finite number >= 0 (1 without a schedule)."""
        if self.schedule is None:
            return 1.0
        try:
            return check_number(self.schedule(epoch), f"schedule({epoch})", minimum=0)
        except (TypeError, ValueError) as error:
            raise type(error)(f"`schedule` must return a finite number >= 0 for every epoch: {error}") from None

    def _epoch_rate(self, epoch):
        return self.learning_rate * self._factor(epoch)

    def _transform_batch(self, X):
        """`transform(X, rng)` checked to be an array like X with finite values; X itself without a transform."""
        if self.transform is None:
            return X
        transformed = self.transform(X, self._rng)
        if not isinstance(transformed, np.ndarray):
            raise TypeError(f"`transform` must return a numpy array, got {type(transformed).__name__}")
        if transformed.shape != X.shape:
            raise ValueError(f"`transform` must return an array of the batch's shape {X.shape}, "
                             f"got shape {transformed.shape}")
        if transformed.dtype != X.dtype:
            raise TypeError(f"`transform` must return an array of the batch's dtype {X.dtype}, "
                            f"got {transformed.dtype}")
        if np.issubdtype(transformed.dtype, np.inexact):
            check_finite(transformed, "transform(X_batch, rng)")
        return transformed

    def _check_loss(self, loss, epoch, batch):
        """Raise TrainingDivergedError for a non-finite loss or one above the divergence rule."""
        if not np.isfinite(loss):
            raise self._diverged(epoch, batch, f"the loss is {loss}")
        if self.reference_loss is None:
            self.reference_loss = max(loss, 1.0)
        if self.divergence_threshold is not None and loss > self.divergence_threshold * self.reference_loss:
            rule = (f"divergence_threshold {self.divergence_threshold:g} times the reference loss "
                    f"{self.reference_loss:.4g} (the larger of the first batch's loss and 1)")
            raise self._diverged(epoch, batch, f"the loss {loss:.4g} is above {rule}",
                                 ", or raise trainer.divergence_threshold (None switches this check off)")

    def _buffers(self):
        """The model's non-trainable state arrays (`model.buffers()`), or none."""
        buffers = getattr(self.model, "buffers", None)
        return buffers() if callable(buffers) else {}

    def _set_mode(self, mode):
        """Call `model.train()` or `model.eval()` when the model has it (BatchNorm and Dropout depend on it)."""
        method = getattr(self.model, mode, None)
        if callable(method):
            method()

    def _track_best(self, record):
        if self.best_val_accuracy is None or record["val_acc"] > self.best_val_accuracy:
            self.best_val_accuracy, self.best_epoch = record["val_acc"], record["epoch"]
            self._epochs_without_improvement = 0
            if self.restore_best:
                self._best_params = {name: param.value.copy() for name, param in self.model.params().items()}
            if self.best_checkpoint_path is not None:
                self._save(self.best_checkpoint_path)
            return
        self._epochs_without_improvement += 1
        if self.patience is not None and self._epochs_without_improvement >= self.patience:
            self.stopped_early = True
            self._say(f"Early stopping: no better val accuracy for {self.patience} epochs "
                      f"(best {self.best_val_accuracy:.4f} at epoch {self.best_epoch}).")

    def _take_snapshot(self):
        """Copies of what changes within an epoch: parameters, buffers, optimizer states, generator state."""
        return {"params": {name: param.value.copy() for name, param in self.model.params().items()},
                "buffers": {name: buffer.copy() for name, buffer in self._buffers().items()},
                "optimizers": copy.deepcopy(self.optimizers),
                "rng": self._rng.bit_generator.state,
                "layer_rngs": layer_generator_states(self.model, self._rng)}

    def _check_checkpoint_files(self):
        """Refuse, before training, checkpoint files this Trainer may not replace."""
        if self.checkpoint_path is None:
            return
        for path in (self.checkpoint_path, self.best_checkpoint_path):
            if path in self._own_files or not os.path.lexists(path):
                continue
            where = (f"`checkpoint_path` {path}" if path == self.checkpoint_path else
                     f"`checkpoint_path` {self.checkpoint_path} writes the best epoch to {path}, which")
            if not is_checkpoint(path):
                raise FileExistsError(f"{where} holds a file that is not a checkpoint of this package; Trainer never "
                                      f"replaces it: choose another checkpoint_path or move the file away")
            if not self.overwrite_checkpoint:
                raise FileExistsError(f"{where} already holds a checkpoint this Trainer did not write (an earlier "
                                      f"run's): pass overwrite_checkpoint=True to replace it, continue that run with "
                                      f"trainer.load_checkpoint({self.checkpoint_path!r}), or choose another "
                                      f"checkpoint_path")

    def _save(self, path, training_state=None):
        """Write a checkpoint file of this Trainer (checked by `_check_checkpoint_files` before training)."""
        save_model(self.model, path, training_state=training_state, overwrite=True)
        self._own_files.add(path)

    def _diverged(self, epoch, batch, reason, other_way=""):
        scheduled = ("" if self.schedule is None else
                     f"the base rate, which the schedule made {self._epoch_rate(epoch):g} in epoch {epoch}; ")
        message = (f"Training diverged at epoch {epoch}, batch {batch}: {reason}. The model keeps its parameters "
                   f"from before this step; try a smaller learning rate than {self.learning_rate:g} ({scheduled}set "
                   f"trainer.learning_rate and call fit() again){other_way}.")
        return TrainingDivergedError(message, epoch, batch, reason)

    def _say(self, message):
        if self.verbose:
            tqdm.write(message)


def _can_redraw(stream):
    """Whether a progress bar can redraw itself on `stream`: in Jupyter (as a widget) or on a terminal."""
    # Imported here, after tqdm.auto has imported autonotebook quietly: imported first, it warns in Jupyter.
    from tqdm import autonotebook, std
    if autonotebook.tqdm is not std.tqdm:  # tqdm.auto found Jupyter and ipywidgets
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty(), or a closed stream
        return False


def _check_model(model):
    methods = ("params", "compute_loss_and_gradients", "predict")
    missing = [method for method in methods if not callable(getattr(model, method, None))]
    if missing:
        raise TypeError(f"`model` must have the methods {', '.join(methods)}; {type(model).__name__} lacks "
                        f"{', '.join(missing)}")
    return model


def _check_schedule(schedule, learning_rate_decay):
    """`schedule` when it is None or a callable, and the decay is 1.0 beside a schedule."""
    if schedule is None:
        return None
    if not callable(schedule):
        hint = f"; for text use schedules.from_spec({schedule!r})" if isinstance(schedule, str) else ""
        raise TypeError(f"`schedule` must be None or a callable epoch -> factor (e.g. schedules.StepDecay(5, 0.2)), "
                        f"got {schedule!r}{hint}")
    if learning_rate_decay != 1.0:
        raise ValueError(f"`learning_rate_decay` must be 1.0 when a `schedule` is given (the schedule sets every "
                         f"epoch's rate), got {learning_rate_decay}")
    return schedule


def _check_flag(value, name):
    if not isinstance(value, (bool, np.bool_, numbers.Integral)):
        raise TypeError(f"`{name}` must be True or False, got {value!r}")
    return bool(value)


def _check_checkpoint_path(path, model):
    """The checkpoint file and its best-epoch sibling, both writable files (None, None without a path)."""
    if path is None:
        return None, None
    path = check_output_file(path, "checkpoint_path")
    best_path = best_checkpoint_path(path)
    if os.path.isdir(best_path):
        raise IsADirectoryError(f"`checkpoint_path` {path!r} would write the best epoch to {best_path!r}, which is "
                                f"a directory; choose another checkpoint_path")
    if not callable(getattr(model, "config", None)):
        raise TypeError(f"`checkpoint_path` needs a model with a config() method (to save its architecture); "
                        f"{type(model).__name__} has none")
    return path, best_path

