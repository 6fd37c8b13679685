"""Trainer and models with modes (train / eval) and buffers: BatchNorm and Dropout inside a Sequential."""
import numpy as np
import pytest

from layers import BatchNormalization, Dropout, Flattener, FullyConnectedLayer
from model import Sequential
from optim import SGD, MomentumSGD
from trainer import Dataset, Trainer, TrainingDivergedError


class ModeRecorder(Flattener):
    """A Flattener that records the `training` flag it had at every forward pass."""

    def __init__(self):
        super().__init__()
        self.training = True
        self.modes = []

    def forward(self, X):
        self.modes.append(self.training)
        return super().forward(X)


def dataset(rng, n=40):
    X = rng.standard_normal((n, 4, 4, 2))
    y = (X[:, 0, 0, 0] > 0).astype(int)
    return Dataset(X[:30], y[:30], X[30:], y[30:])


def test_steps_run_in_training_mode_and_accuracy_in_evaluation_mode(rng):
    recorder = ModeRecorder()
    model = Sequential([recorder, BatchNormalization(32), FullyConnectedLayer(32, 2, seed=0)]).eval()
    trainer = Trainer(model, dataset(rng), MomentumSGD(), num_epochs=2, batch_size=10, verbose=False)
    trainer.fit()
    # per epoch: 3 training batches, then accuracy in batches of 10: 3 over the training set, 1 over validation
    assert recorder.modes == [True] * 3 + [False] * 4 + [True] * 3 + [False] * 4
    assert not model.training


def test_a_failed_step_puts_the_running_statistics_back(rng):
    model = Sequential([Flattener(), BatchNormalization(32), FullyConnectedLayer(32, 2, seed=0)])
    trainer = Trainer(model, dataset(rng), SGD(), num_epochs=1, batch_size=10, learning_rate=1e12,
                      verbose=False)
    norm = model.layers["bn1"]
    snapshots = []
    original_forward = norm.forward

    def recording_forward(X):
        snapshots.append((norm.running_mean.copy(), norm.running_var.copy()))
        return original_forward(X)

    norm.forward = recording_forward
    with pytest.raises(TrainingDivergedError):
        trainer.fit()
    mean_before_bad_step, var_before_bad_step = snapshots[-1]
    np.testing.assert_array_equal(norm.running_mean, mean_before_bad_step)
    np.testing.assert_array_equal(norm.running_var, var_before_bad_step)


def test_dropout_is_off_when_measuring_accuracy(rng):
    data = dataset(rng)
    model = Sequential([Flattener(), Dropout(0.9, seed=0), FullyConnectedLayer(32, 2, seed=0)])
    trainer = Trainer(model, data, SGD(), num_epochs=1, batch_size=10, learning_rate=1e-2, verbose=False)
    trainer.fit()
    expected = np.mean(Sequential([Flattener(), model.layers["fc1"]]).predict(data.val_X) == data.val_y)
    assert trainer.history[-1]["val_acc"] == pytest.approx(expected)
