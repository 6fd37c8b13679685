"""trainer.py: exact bookkeeping on a scripted fake model, learning and checkpoints on a tiny ConvNet."""
import numpy as np
import pytest
from tqdm.std import tqdm

import trainer as trainer_module
from checkpoint import load_model
from layers import Param
from model import ConvNet
from optim import SGD, Adam, AdamW, MomentumSGD
from schedules import Cosine, StepDecay, Warmup, from_spec
from trainer import Dataset, Trainer, TrainingDivergedError

SHAPE = (16, 16, 1)


class FakeModel:
    """One parameter `w` of shape (2,) with a scripted loss and gradient; records every batch it sees.

    Samples are rows `X[i] = [label]`; `predict` returns the labels, or with `accuracy_by_step` gets right only the
    first `accuracy * len(X)` samples, the accuracy looked up by `w[0]`, which is the number of steps taken when
    training with SGD at learning rate 1 (the gradient is -1).
    """

    def __init__(self, losses=None, grads=None, accuracy_by_step=None, interrupt_on=None):
        self.w = Param(np.zeros(2))
        self.losses, self.grads = losses or {}, grads or {}
        self.accuracy_by_step = accuracy_by_step
        self.interrupt_on = interrupt_on
        self.calls = 0
        self.batches = []

    def params(self):
        return {"w": self.w}

    def compute_loss_and_gradients(self, X, y):
        self.calls += 1
        if self.calls == self.interrupt_on:
            raise KeyboardInterrupt
        self.batches.append(np.array(y))
        self.w.grad = np.full(2, self.grads.get(self.calls, -1.0))
        return self.losses.get(self.calls, 1.0)

    def predict(self, X):
        labels = X[:, 0].astype(np.int64)
        if self.accuracy_by_step is None:
            return labels
        n_right = round(self.accuracy_by_step[int(self.w.value[0])] * len(X))
        return np.where(np.arange(len(X)) < n_right, labels, labels + 1)


def fake_dataset(n_train=10, n_val=10):
    """Labels 0..n-1 (one class per sample, the fake model does not care), X holding each label."""
    train_y, val_y = np.arange(n_train), np.arange(n_val)
    return Dataset(train_y[:, None].astype(float), train_y, val_y[:, None].astype(float), val_y)


def fake_trainer(model=None, optim=None, **kwargs):
    kwargs = {"num_epochs": 3, "batch_size": 4, "learning_rate": 1.0, "verbose": False, "seed": 0, **kwargs}
    return Trainer(model or FakeModel(), kwargs.pop("dataset", fake_dataset()), optim or SGD(), **kwargs)


def blobs(n, seed):
    """A learnable 2-class set of 16x16 images: a bright square top left (class 0) or bottom right (class 1)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = 0.1 * rng.standard_normal((n, *SHAPE))
    X[y == 0, 2:6, 2:6] += 1.0
    X[y == 1, 10:14, 10:14] += 1.0
    return X, y


def blob_dataset(dtype=np.float64):
    (train_X, train_y), (val_X, val_y) = blobs(32, 0), blobs(16, 1)
    return Dataset(train_X.astype(dtype), train_y, val_X.astype(dtype), val_y)


def conv_net(dtype="float64", seed=0):
    return ConvNet(SHAPE, 2, 4, 4, dtype=dtype, seed=seed)


def values(model):
    return {name: param.value.copy() for name, param in model.params().items()}


def assert_same_values(actual, expected):
    assert actual.keys() == expected.keys()
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


@pytest.mark.parametrize("optim, learning_rate", [(SGD(), 0.1), (MomentumSGD(), 0.02), (Adam(), 0.01),
                                                   (AdamW(weight_decay=0.1), 0.01), (SGD(weight_decay=1e-3), 0.1)])
def test_loss_decreases_on_a_learnable_set(optim, learning_rate):
    trainer = Trainer(conv_net(), blob_dataset(), optim, num_epochs=8, batch_size=8, learning_rate=learning_rate,
                      seed=0, verbose=False)
    loss_history, train_history, val_history = trainer.fit()
    assert len(loss_history) == len(train_history) == len(val_history) == 8
    assert loss_history[-1] < 0.6 * loss_history[0]
    assert train_history[-1] >= 0.9 and val_history[-1] >= 0.8


def test_histories_one_entry_per_epoch():
    trainer = fake_trainer(num_epochs=5)
    histories = trainer.fit()
    assert all(isinstance(history, list) and len(history) == 5 for history in histories)
    assert [record["epoch"] for record in trainer.history] == [1, 2, 3, 4, 5]
    assert set(trainer.history[0]) == {"epoch", "loss", "train_acc", "val_acc", "lr", "seconds"}
    assert histories[1] == histories[2] == [1.0] * 5  # the fake model predicts every label right


def test_epoch_loss_is_the_mean_over_its_batches_and_the_last_batch_is_smaller():
    # 10 samples in batches of 4: 4, 4, 2; the loss of call k is k
    model = FakeModel(losses={k: float(k) for k in range(1, 7)})
    loss_history, _, _ = fake_trainer(model, num_epochs=2).fit()
    assert loss_history == [(1 + 2 + 3) / 3, (4 + 5 + 6) / 3]
    assert [len(batch) for batch in model.batches] == [4, 4, 2, 4, 4, 2]


def test_every_epoch_is_a_new_shuffle_from_the_local_seed():
    global_state = np.random.get_state()[1].copy()
    model = FakeModel()
    fake_trainer(model, num_epochs=3, seed=7).fit()
    epochs = [np.concatenate(model.batches[3 * epoch:3 * epoch + 3]) for epoch in range(3)]
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), np.arange(10))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])

    again = FakeModel()
    fake_trainer(again, num_epochs=3, seed=7).fit()
    np.testing.assert_array_equal(np.concatenate(again.batches), np.concatenate(model.batches))
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)


def test_learning_rate_decays_after_every_epoch():
    model = FakeModel()
    trainer = fake_trainer(model, num_epochs=3, batch_size=10, learning_rate=1.0, learning_rate_decay=0.5)
    trainer.fit()
    assert [record["lr"] for record in trainer.history] == [1.0, 0.5, 0.25]
    assert trainer.learning_rate == 0.125
    np.testing.assert_allclose(model.w.value, [1.75, 1.75])  # SGD steps of 1, 0.5 and 0.25 against grad -1


def test_one_optimizer_copy_per_parameter():
    model = FakeModel()
    model.v = Param(np.zeros(3))
    model.params = lambda: {"w": model.w, "v": model.v}
    optim = MomentumSGD()
    trainer = fake_trainer(model, optim)
    assert set(trainer.optimizers) == {"w", "v"}
    assert trainer.optimizers["w"] is not trainer.optimizers["v"] and optim not in trainer.optimizers.values()
    trainer.fit()
    assert trainer.optimizers["w"].velocity.shape == (2,) and trainer.optimizers["v"].velocity.shape == (3,)
    assert optim.velocity is None


def test_compute_accuracy_in_mini_batches():
    model = FakeModel()
    calls = []
    model.predict = lambda X: calls.append(len(X)) or X[:, 0].astype(np.int64) % 3
    trainer = fake_trainer(model, batch_size=4)
    assert trainer.compute_accuracy(np.arange(10.0)[:, None], np.arange(10)) == 0.3  # labels 0, 1, 2 right
    assert calls == [4, 4, 2]


@pytest.mark.parametrize("bad_loss", [np.nan, np.inf, -np.inf])
def test_non_finite_loss_stops_with_the_parameters_before_the_bad_step(bad_loss):
    model = FakeModel(losses={5: bad_loss})  # epoch 2, batch 2
    trainer = fake_trainer(model, MomentumSGD(), num_epochs=3)
    with pytest.raises(TrainingDivergedError, match=r"epoch 2, batch 2: the loss is .*smaller learning rate"):
        trainer.fit()
    assert len(trainer.history) == 1
    # four steps were taken (three in epoch 1, one in epoch 2): compare with a run of exactly four steps
    four_steps = FakeModel(interrupt_on=5)
    fake_trainer(four_steps, MomentumSGD(), num_epochs=3).fit()
    np.testing.assert_array_equal(model.w.value, four_steps.w.value)
    assert np.all(np.isfinite(model.w.value))


def test_diverged_error_is_a_floating_point_error_with_its_position():
    trainer = fake_trainer(FakeModel(losses={1: np.nan}))
    with pytest.raises(FloatingPointError) as caught:
        trainer.fit()
    assert (caught.value.epoch, caught.value.batch) == (1, 1)
    np.testing.assert_array_equal(trainer.model.w.value, [0.0, 0.0])


def test_non_finite_update_is_not_applied():
    model = FakeModel(grads={2: np.inf})
    trainer = fake_trainer(model, MomentumSGD(momentum=0.5))
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch 2: the update made w non-finite \(loss 1\)"):
        trainer.fit()
    np.testing.assert_array_equal(model.w.value, [1.0, 1.0])  # after step 1 only
    np.testing.assert_array_equal(trainer.optimizers["w"].velocity, [1.0, 1.0])  # nor the optimizer's state


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_huge_learning_rate_on_a_conv_net_keeps_finite_parameters():
    model = conv_net("float32")
    trainer = Trainer(model, blob_dataset(np.float32), SGD(), num_epochs=3, batch_size=8, learning_rate=1e30,
                      verbose=False)
    with pytest.raises(TrainingDivergedError, match=r"try a smaller learning rate than 1e\+30"):
        trainer.fit()
    assert all(np.all(np.isfinite(value)) for value in values(model).values())


def test_interrupt_returns_the_completed_epochs(capsys):
    model = FakeModel(interrupt_on=7)  # batch 1 of epoch 3
    trainer = fake_trainer(model, num_epochs=5, verbose=True)
    loss_history, train_history, val_history = trainer.fit()
    assert len(loss_history) == len(train_history) == len(val_history) == 2
    assert trainer.interrupted and trainer.epoch == 2
    np.testing.assert_array_equal(model.w.value, [6.0, 6.0])  # the six completed steps
    assert "Training interrupted: returning the 2 epochs this fit() completed" in capsys.readouterr().out


def test_interrupt_inside_a_conv_net_batch_leaves_a_usable_model():
    class InterruptedConvNet(ConvNet):
        calls, before_interrupt = 0, None

        def compute_loss_and_gradients(self, X, y):
            self.calls += 1
            if self.calls == 6:
                self.before_interrupt = values(self)
                raise KeyboardInterrupt
            return super().compute_loss_and_gradients(X, y)

    model = InterruptedConvNet(SHAPE, 2, 4, 4, seed=0)
    dataset = blob_dataset()
    trainer = Trainer(model, dataset, Adam(), num_epochs=4, batch_size=8, learning_rate=1e-2, verbose=False)
    histories = trainer.fit()
    assert [len(history) for history in histories] == [1, 1, 1]
    assert_same_values(values(model), model.before_interrupt)
    assert model.predict(dataset.val_X).shape == (16,)
    assert trainer.optimizers["conv1_W"].t == 5
    assert len(trainer.fit(num_epochs=1)[0]) == 1  # and training goes on


def test_interrupt_between_two_parameter_assignments_restores_both():
    class InterruptedParam(Param):
        """Raises KeyboardInterrupt on the fourth assignment of its value: the constructor's, then steps 1-3."""
        assignments = 0

        @property
        def value(self):
            return self._value

        @value.setter
        def value(self, value):
            self.assignments += 1
            if self.assignments == 4:
                raise KeyboardInterrupt
            self._value = value

    model = FakeModel()
    model.w, model.v = Param(np.zeros(2)), InterruptedParam(np.zeros(2))
    model.params = lambda: {"w": model.w, "v": model.v}
    original = model.compute_loss_and_gradients

    def fill_both(X, y):
        loss = original(X, y)
        model.v.grad = model.w.grad.copy()
        return loss

    model.compute_loss_and_gradients = fill_both
    trainer = fake_trainer(model)
    trainer.fit()
    assert trainer.interrupted
    np.testing.assert_array_equal(model.w.value, [2.0, 2.0])
    np.testing.assert_array_equal(model.v.value, [2.0, 2.0])


def test_fit_again_continues_training():
    whole, split = conv_net(), conv_net()
    adam_whole = Trainer(whole, blob_dataset(), Adam(), num_epochs=4, batch_size=8, learning_rate=1e-2,
                         learning_rate_decay=0.9, seed=3, verbose=False)
    adam_split = Trainer(split, blob_dataset(), Adam(), num_epochs=2, batch_size=8, learning_rate=1e-2,
                         learning_rate_decay=0.9, seed=3, verbose=False)
    losses = adam_whole.fit()[0]
    first, second = adam_split.fit()[0], adam_split.fit()[0]
    assert first + second == losses
    assert_same_values(values(split), values(whole))
    assert [record["epoch"] for record in adam_split.history] == [1, 2, 3, 4]
    assert adam_split.optimizers["fc_W"].t == adam_whole.optimizers["fc_W"].t == 16
    assert adam_split.learning_rate == pytest.approx(1e-2 * 0.9 ** 4)


def test_restore_best_parameters():
    model = FakeModel(accuracy_by_step={1: 0.3, 2: 0.7, 3: 0.5, 4: 0.4, 5: 0.2})
    trainer = fake_trainer(model, num_epochs=5, batch_size=10, restore_best=True)
    _, _, val_history = trainer.fit()
    assert val_history == [0.3, 0.7, 0.5, 0.4, 0.2]
    assert (trainer.best_epoch, trainer.best_val_accuracy) == (2, 0.7)
    np.testing.assert_array_equal(model.w.value, [2.0, 2.0])


def test_without_restore_best_the_last_parameters_stay():
    model = FakeModel(accuracy_by_step={1: 0.3, 2: 0.7, 3: 0.5})
    trainer = fake_trainer(model, num_epochs=3, batch_size=10)
    trainer.fit()
    assert trainer.best_epoch == 2
    np.testing.assert_array_equal(model.w.value, [3.0, 3.0])


def test_early_stopping(capsys):
    model = FakeModel(accuracy_by_step={1: 0.3, 2: 0.7, 3: 0.7, 4: 0.4, 5: 0.9, 6: 0.9})
    trainer = fake_trainer(model, num_epochs=6, batch_size=10, patience=2, verbose=True)
    loss_history, _, _ = trainer.fit()
    assert len(loss_history) == 4 and trainer.stopped_early  # epochs 3 and 4 do not beat 0.7
    assert "Early stopping: no better val accuracy for 2 epochs (best 0.7000 at epoch 2)" in capsys.readouterr().out


def test_restore_best_after_an_interrupt():
    model = FakeModel(accuracy_by_step={1: 0.8, 2: 0.5, 3: 0.4}, interrupt_on=4)
    trainer = fake_trainer(model, num_epochs=5, batch_size=10, restore_best=True)
    trainer.fit()
    assert trainer.interrupted
    np.testing.assert_array_equal(model.w.value, [1.0, 1.0])


def test_checkpoints_every_epoch_and_of_the_best(tmp_path):
    model = conv_net()
    dataset = blob_dataset()
    path = tmp_path / "model.npz"
    trainer = Trainer(model, dataset, Adam(), num_epochs=3, batch_size=8, learning_rate=1e-2, seed=0, verbose=False,
                      checkpoint_path=path)
    trainer.fit()
    assert trainer.best_checkpoint_path == str(tmp_path / "model.best.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.best.npz", "model.npz"]
    assert_same_values(values(load_model(path)), values(model))
    best = load_model(trainer.best_checkpoint_path)
    assert np.mean(best.predict(dataset.val_X) == dataset.val_y) == trainer.best_val_accuracy


def test_progress_bar_and_summary_lines(capsys, monkeypatch):
    class RecordingBar(tqdm):
        postfixes = []

        def set_postfix(self, **kwargs):
            self.postfixes.append(kwargs)
            super().set_postfix(**kwargs)

    monkeypatch.setattr(trainer_module, "tqdm", RecordingBar)
    monkeypatch.setattr(trainer_module, "_can_redraw", lambda stream: True)  # as on a terminal
    fake_trainer(FakeModel(losses={1: 1.0, 2: 2.0, 3: 3.0}), num_epochs=2, verbose=True).fit()
    captured = capsys.readouterr()
    assert "Epoch 1/2: loss 2.0000, train acc 1.0000, val acc 1.0000, 0.0" in captured.out
    assert "Epoch 2/2: loss 1.0000" in captured.out
    assert "Epoch 1/2" in captured.err and "Epoch 2/2" in captured.err  # the bars
    assert [postfix["loss"] for postfix in RecordingBar.postfixes[:3]] == ["1.0000", "1.5000", "2.0000"]


def test_verbose_false_prints_nothing(capsys):
    fake_trainer(FakeModel(interrupt_on=4), num_epochs=2, restore_best=True, patience=1, verbose=False).fit()
    assert capsys.readouterr() == ("", "")


def test_notebook_cells_still_work(capsys):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((16, 32, 32, 3)), rng.integers(0, 10, 16)
    model = ConvNet(input_shape=(32, 32, 3), n_output_classes=10, conv1_channels=2, conv2_channels=2)
    dataset = Dataset(X, y, X, y)
    trainer = Trainer(model, dataset, SGD(), batch_size=16, learning_rate=1e-4)
    loss_history, train_history, val_history = trainer.fit()
    assert len(loss_history) == len(train_history) == len(val_history) == 20
    trainer = Trainer(model, dataset, MomentumSGD(), learning_rate=1e-5, num_epochs=2, batch_size=64)
    assert len(trainer.fit()[0]) == 2
    assert "Epoch 20/20: loss" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, error, match", [
    ({"num_epochs": 0}, ValueError, r"`num_epochs` must be a positive integer, got 0"),
    ({"batch_size": 1.5}, TypeError, r"`batch_size` must be an integer"),
    ({"learning_rate": 0}, ValueError, r"`learning_rate` must be a finite number > 0"),
    ({"learning_rate": np.nan}, ValueError, r"`learning_rate` must be a finite number"),
    ({"learning_rate_decay": 1.5}, ValueError, r"`learning_rate_decay` must be a finite number > 0 and <= 1"),
    ({"patience": 0}, ValueError, r"`patience` must be a positive integer"),
    ({"seed": -1}, ValueError, r"`seed` must be a non-negative integer"),
    ({"verbose": "yes"}, TypeError, r"`verbose` must be True or False"),
    ({"restore_best": None}, TypeError, r"`restore_best` must be True or False"),
    ({"checkpoint_path": 3}, TypeError, r"`checkpoint_path` must be a str or os.PathLike, got int"),
    ({"checkpoint_path": "/nonexistent/dir/model.npz"}, FileNotFoundError, r"directory /nonexistent/dir does not"),
    ({"checkpoint_path": "model.npz"}, TypeError, r"`checkpoint_path` needs a model with a config\(\) method"),
    ({"divergence_threshold": 1.0}, ValueError, r"`divergence_threshold` must be a finite number > 1, got 1.0"),
    ({"divergence_threshold": np.inf}, ValueError, r"`divergence_threshold` must be a finite number > 1"),
    ({"divergence_threshold": "1e3"}, TypeError, r"`divergence_threshold` must be a real number"),
    ({"optim": SGD}, TypeError, r"`optim` must be an optimizer instance"),
    ({"optim": "sgd"}, TypeError, r"`optim` must be an optimizer instance"),
    ({"model": object()}, TypeError, r"`model` must have the methods .* object lacks params, "),
    ({"dataset": object()}, TypeError, r"`dataset` must have the attributes .* lacks train_X, train_y"),
    ({"schedule": 0.5}, TypeError, r"`schedule` must be None or a callable epoch -> factor \(e.g. "
                                   r"schedules.StepDecay\(5, 0.2\)\), got 0.5"),
    ({"schedule": "step:5:0.2"}, TypeError, r"`schedule` must be None or a callable epoch -> factor .*"
                                            r"schedules.from_spec\('step:5:0.2'\)"),
    ({"schedule": StepDecay(2, 0.5), "learning_rate_decay": 0.9}, ValueError,
     r"`learning_rate_decay` must be 1.0 when a `schedule` is given \(the schedule sets every epoch's rate\), "
     r"got 0.9"),
])
def test_bad_trainer_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        fake_trainer(**kwargs)


@pytest.mark.parametrize("arrays, match", [
    ((np.zeros((3, 1)), np.zeros(2, int), np.zeros((1, 1)), np.zeros(1, int)),
     r"`train_X` and `train_y` must have the same number of samples, got 3 and 2"),
    ((np.zeros((3, 1)), np.zeros(3, int), np.zeros((2, 1)), np.zeros(1, int)),
     r"`val_X` and `val_y` must have the same number of samples, got 2 and 1"),
    ((np.zeros((0, 1)), np.zeros(0, int), np.zeros((1, 1)), np.zeros(1, int)),
     r"`train_X` must hold at least one sample"),
    ((np.float64(1.0), np.zeros(1, int), np.zeros((1, 1)), np.zeros(1, int)), r"one entry per sample"),
])
def test_bad_dataset(arrays, match):
    with pytest.raises(ValueError, match=match):
        Dataset(*arrays)


def test_dataset_keeps_the_arrays():
    arrays = (np.zeros((3, 2)), np.zeros(3, int), np.zeros((1, 2)), np.zeros(1, int))
    dataset = Dataset(*arrays)
    assert all(getattr(dataset, name) is array
               for name, array in zip(("train_X", "train_y", "val_X", "val_y"), arrays))


def test_bad_fit_and_accuracy_arguments():
    trainer = fake_trainer()
    with pytest.raises(ValueError, match=r"`num_epochs` must be a positive integer, got 0"):
        trainer.fit(num_epochs=0)
    with pytest.raises(ValueError, match=r"`X` and `y` must have the same number of samples, got 2 and 3"):
        trainer.compute_accuracy(np.zeros((2, 1)), np.zeros(3))


# ---------------------------------------------------------------------------------- a checkpoint path up front

@pytest.mark.parametrize("folders, path, match", [
    ([], ".", r"`checkpoint_path` must name a file, got the directory '\.'"),
    (["model.npz"], "model.npz", r"`checkpoint_path` must name a file, got the directory '.*model\.npz'"),
    (["model.best.npz"], "model.npz",
     r"`checkpoint_path` '.*model\.npz' would write the best epoch to '.*model\.best\.npz', which is a directory"),
], ids=["the folder", "a folder named like the file", "the best epoch's file is a folder"])
def test_a_directory_as_checkpoint_path_is_refused_before_any_epoch(tmp_path, monkeypatch, folders, path, match):
    monkeypatch.chdir(tmp_path)
    for folder in folders:
        (tmp_path / folder).mkdir()
    model = conv_net()
    before = values(model)
    with pytest.raises(IsADirectoryError, match=match):
        Trainer(model, blob_dataset(), SGD(), num_epochs=1, batch_size=8, verbose=False, checkpoint_path=path)
    assert_same_values(values(model), before)
    assert sorted(item.name for item in tmp_path.iterdir()) == folders


# ------------------------------------------------------------------------------------------- non-finite data

@pytest.mark.parametrize("position", range(4))
def test_dataset_refuses_non_finite_samples_naming_the_array_and_the_count(position):
    arrays = [np.zeros((3, 2)), np.zeros(3, dtype=int), np.zeros((2, 2)), np.zeros(2, dtype=int)]
    x_index = 0 if position < 2 else 2
    arrays[x_index] = arrays[x_index].copy()
    arrays[x_index].flat[[0, -1]] = [np.nan, np.inf] if position % 2 else [-np.inf, np.nan]
    name = "train_X" if x_index == 0 else "val_X"
    with pytest.raises(ValueError, match=rf"`{name}` must hold finite values only, got 2 NaN or infinite values "
                                         rf"out of {arrays[x_index].size}"):
        Dataset(*arrays)


def test_dataset_accepts_integer_samples():
    Dataset(np.arange(6).reshape(3, 2), np.arange(3), np.arange(2).reshape(1, 2), np.arange(1))


def test_trainer_refuses_a_dataset_like_object_with_non_finite_samples():
    class Splits:
        train_X, train_y = np.array([[0.0], [np.nan]]), np.array([0, 1])
        val_X, val_y = np.array([[0.0]]), np.array([0])

    with pytest.raises(ValueError, match=r"`train_X` must hold finite values only, got 1 NaN"):
        fake_trainer(dataset=Splits())


def test_data_made_non_finite_after_the_trainer_is_refused_by_fit_not_blamed_on_the_learning_rate():
    model = FakeModel()
    trainer = fake_trainer(model)
    trainer.dataset.val_X = np.full_like(trainer.dataset.val_X, np.nan)
    with pytest.raises(ValueError, match=r"`val_X` must hold finite values only, got 10 NaN") as caught:
        trainer.fit()
    assert "learning rate" not in str(caught.value)
    assert model.calls == 0 and trainer.history == []


# ------------------------------------------------------------------------------- divergence with a finite loss

@pytest.mark.parametrize("first_loss, bad_loss, threshold", [
    (1.0, 1001.0, 1e3), (2.3, 2301.0, 1e3), (0.01, 1001.0, 1e3),  # the reference is at least 1
    (5.0, 51.0, 10), (-3.0, 11.0, 10)])
def test_an_exploding_loss_stops_with_the_parameters_before_the_bad_step(first_loss, bad_loss, threshold):
    losses = {1: first_loss, 5: bad_loss}  # epoch 2, batch 2
    model = FakeModel(losses=losses)
    trainer = fake_trainer(model, MomentumSGD(), num_epochs=3, divergence_threshold=threshold)
    with pytest.raises(TrainingDivergedError, match=rf"epoch 2, batch 2: the loss {bad_loss:.4g} is above "
                                                    rf"divergence_threshold {threshold:g} times the reference loss "
                                                    rf"{max(first_loss, 1):.4g} \(the larger of the first batch's "
                                                    r"loss and 1\)\. .*smaller learning rate than 1 .*raise "
                                                    r"trainer\.divergence_threshold \(None switches this check off\)"
                       ) as caught:
        trainer.fit()
    assert (caught.value.epoch, caught.value.batch) == (2, 2) and caught.value.reason.startswith("the loss")
    assert len(trainer.history) == 1 and trainer.reference_loss == max(first_loss, 1)
    four_steps = FakeModel(interrupt_on=5)
    four_steps_trainer = fake_trainer(four_steps, MomentumSGD(), num_epochs=3)
    four_steps_trainer.fit()
    np.testing.assert_array_equal(model.w.value, four_steps.w.value)
    np.testing.assert_array_equal(trainer.optimizers["w"].velocity, four_steps_trainer.optimizers["w"].velocity)


@pytest.mark.parametrize("first_loss, loss, threshold", [
    (1.0, 1000.0, 1e3), (2.3, 2299.0, 1e3), (0.01, 999.0, 1e3), (1.0, 1e300, None)])
def test_a_loss_at_or_below_the_threshold_goes_on(first_loss, loss, threshold):
    trainer = fake_trainer(FakeModel(losses={1: first_loss, 2: loss}), divergence_threshold=threshold)
    assert len(trainer.fit()[0]) == 3


def test_the_reference_loss_is_kept_by_fit_again():
    model = FakeModel(losses={1: 1.0, 4: 3.0, 8: 1500.0})
    trainer = fake_trainer(model, num_epochs=1)
    trainer.fit()
    trainer.fit()  # the loss 3 of its first batch does not replace the reference 1
    with pytest.raises(TrainingDivergedError, match=r"epoch 3, batch 2: the loss 1500 is above"):
        trainer.fit()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sgd_with_a_huge_learning_rate_on_a_conv_net_stops_at_once(dtype):
    """The issue's case: SGD at 1e12 used to run every epoch with losses of 1e34 and parameters of 1e35."""

    class RecordingConvNet(ConvNet):
        before_last_batch = None

        def compute_loss_and_gradients(self, X, y):
            self.before_last_batch = values(self)
            return super().compute_loss_and_gradients(X, y)

    model = RecordingConvNet(SHAPE, 2, 4, 4, dtype=dtype, seed=0)
    trainer = Trainer(model, blob_dataset(dtype), SGD(), num_epochs=5, batch_size=8, learning_rate=1e12, seed=0,
                      verbose=False)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch 2: the loss \S+ is above "
                                                    r"divergence_threshold 1000 times") as caught:
        trainer.fit()
    assert caught.value.batch == 2 and trainer.history == []
    assert_same_values(values(model), model.before_last_batch)


class RecordingLosses(ConvNet):
    """A ConvNet that keeps the loss of every batch."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.losses = []

    def compute_loss_and_gradients(self, X, y):
        self.losses.append(super().compute_loss_and_gradients(X, y))
        return self.losses[-1]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("make_optim, learning_rate", [(Adam, 1e-2), (lambda: MomentumSGD(0.9), 0.1)],
                         ids=["adam", "momentum"])
def test_healthy_runs_on_random_data_stay_far_below_the_threshold(make_optim, learning_rate, seed):
    """Random 10-class images and labels: nothing to learn, the loss wanders around ln 10 and never explodes."""
    rng = np.random.default_rng(seed)
    X, y = rng.random((96, 16, 16, 3)) - 0.5, rng.integers(0, 10, 96)
    model = RecordingLosses((16, 16, 3), 10, 8, 16, seed=seed)
    trainer = Trainer(model, Dataset(X[:80], y[:80], X[80:], y[80:]), make_optim(), num_epochs=4, batch_size=16,
                      learning_rate=learning_rate, seed=seed, verbose=False)
    assert len(trainer.fit()[0]) == 4
    assert trainer.reference_loss == pytest.approx(np.log(10), rel=0.2)
    assert max(model.losses) < 10 * trainer.reference_loss  # 100 times below the default threshold


# ------------------------------------------------------------------------------------------------- schedules

def test_a_schedule_sets_the_rate_of_every_epoch():
    model = FakeModel()  # one SGD step per epoch against the gradient -1: w grows by the epoch's rate
    trainer = fake_trainer(model, num_epochs=5, batch_size=10, learning_rate=2.0, schedule=StepDecay(2, 0.5))
    trainer.fit()
    assert [record["lr"] for record in trainer.history] == [2.0, 2.0, 1.0, 1.0, 0.5]
    np.testing.assert_allclose(model.w.value, [6.5, 6.5])
    assert trainer.learning_rate == 2.0  # the base rate, which the schedule multiplies


def test_a_plain_function_is_a_schedule():
    trainer = fake_trainer(num_epochs=3, learning_rate=1.0, schedule=lambda epoch: 1 / epoch)
    trainer.fit()
    assert [record["lr"] for record in trainer.history] == [1.0, 0.5, 1 / 3]


def test_a_schedule_with_a_decay_of_one_is_accepted():
    trainer = fake_trainer(num_epochs=2, learning_rate=1.0, learning_rate_decay=1.0, schedule=Warmup(1))
    trainer.fit()
    assert [record["lr"] for record in trainer.history] == [0.5, 1.0]


def test_fit_again_continues_the_schedule_from_the_next_epoch():
    whole = fake_trainer(num_epochs=6, learning_rate=0.1, schedule=from_spec("warmup:2+cosine", num_epochs=6))
    split = fake_trainer(num_epochs=2, learning_rate=0.1, schedule=from_spec("warmup:2+cosine", num_epochs=6))
    whole.fit()
    for _ in range(3):
        split.fit()
    assert [record["lr"] for record in split.history] == [record["lr"] for record in whole.history]
    assert [record["lr"] for record in whole.history] == pytest.approx(
        [0.1 / 3, 0.2 / 3, 0.1, 0.1 * (1 + np.cos(np.pi / 4)) / 2, 0.05, 0.1 * (1 + np.cos(3 * np.pi / 4)) / 2])
    np.testing.assert_array_equal(split.model.w.value, whole.model.w.value)


def test_a_schedule_on_a_conv_net_is_the_same_run_as_its_rates_set_by_hand():
    scheduled = Trainer(conv_net(), blob_dataset(), MomentumSGD(), num_epochs=3, batch_size=8, learning_rate=0.05,
                        seed=1, verbose=False, schedule=Cosine(3, min_factor=0.1))
    by_hand = Trainer(conv_net(), blob_dataset(), MomentumSGD(), num_epochs=1, batch_size=8, seed=1, verbose=False)
    scheduled.fit()
    for epoch in range(1, 4):
        by_hand.learning_rate = 0.05 * Cosine(3, min_factor=0.1)(epoch)
        by_hand.fit()
    assert [record["lr"] for record in by_hand.history] == [record["lr"] for record in scheduled.history]
    assert_same_values(values(scheduled.model), values(by_hand.model))


@pytest.mark.parametrize("schedule, error, match", [
    (lambda epoch: -0.5 if epoch == 2 else 1.0, ValueError,
     r"`schedule` must return a finite number >= 0 for every epoch: `schedule\(2\)` must be a finite number >= 0, "
     r"got -0.5"),
    (lambda epoch: float("nan"), ValueError, r"`schedule\(1\)` must be a finite number >= 0, got nan"),
    (lambda epoch: "1", TypeError, r"`schedule\(1\)` must be a real number, got '1'"),
])
def test_a_bad_factor_is_refused_before_any_step_of_the_fit(schedule, error, match):
    model = FakeModel()
    trainer = fake_trainer(model, num_epochs=3, schedule=schedule)
    with pytest.raises(error, match=match):
        trainer.fit()
    assert model.calls == 0 and trainer.history == [] and trainer.epoch == 0


def test_a_zero_factor_is_a_rate_of_zero():
    model = FakeModel()
    fake_trainer(model, num_epochs=2, schedule=lambda epoch: 0.0).fit()
    np.testing.assert_array_equal(model.w.value, [0.0, 0.0])


def test_divergence_under_a_schedule_names_the_base_rate_and_the_epoch_rate():
    trainer = fake_trainer(FakeModel(losses={4: np.nan}), num_epochs=3, batch_size=4, learning_rate=2.0,
                           schedule=StepDecay(1, 0.5))
    with pytest.raises(TrainingDivergedError, match=r"epoch 2, batch 1: the loss is nan\. .*try a smaller learning "
                                                    r"rate than 2 \(the base rate, which the schedule made 1 in "
                                                    r"epoch 2; set trainer.learning_rate and call fit\(\) again\)"):
        trainer.fit()


def test_adamw_gets_one_copy_per_parameter():
    model = FakeModel()
    model.v = Param(np.zeros(3))
    model.params = lambda: {"w": model.w, "v": model.v}
    optim = AdamW(weight_decay=0.5)
    trainer = fake_trainer(model, optim)
    trainer.fit()
    assert trainer.optimizers["w"] is not trainer.optimizers["v"] and optim.m is None
    assert type(trainer.optimizers["w"]) is AdamW and trainer.optimizers["w"].weight_decay == 0.5
    assert trainer.optimizers["w"].m.shape == (2,) and trainer.optimizers["v"].m.shape == (3,)
