"""Trainer(transform=...): every training batch transformed with the trainer's generator, nothing else."""
import numpy as np
import pytest

from layers import Param
from model import ConvNet
from optim import SGD, Adam
from trainer import Dataset, Trainer

SHAPE = (8, 8, 1)


class RecordingModel:
    """One parameter; records the X of every training batch and of every prediction; predicts X[:, 0, 0, 0]."""

    def __init__(self):
        self.w = Param(np.zeros(2))
        self.trained_on, self.predicted_on = [], []

    def params(self):
        return {"w": self.w}

    def compute_loss_and_gradients(self, X, y):
        self.trained_on.append(X.copy())
        self.w.grad = np.full(2, -1.0)
        return 1.0

    def predict(self, X):
        self.predicted_on.append(X.copy())
        return X[:, 0, 0, 0].astype(np.int64)


def label_images(n, dtype=np.float64):
    """Images whose every pixel is the sample's label, so a prediction that reads a pixel is right."""
    y = np.arange(n) % 10
    return np.broadcast_to(y[:, None, None, None], (n, *SHAPE)).astype(dtype), y


def label_dataset(dtype=np.float64):
    (train_X, train_y), (val_X, val_y) = label_images(10, dtype), label_images(6, dtype)
    return Dataset(train_X, train_y, val_X, val_y)


def make_trainer(model=None, transform=None, **kwargs):
    kwargs = {"num_epochs": 2, "batch_size": 4, "learning_rate": 1.0, "verbose": False, "seed": 0, **kwargs}
    return Trainer(model or RecordingModel(), kwargs.pop("dataset", label_dataset()), SGD(), transform=transform,
                   **kwargs)


class Shift:
    """A transform that adds 100 to every pixel and records what it was given."""

    def __init__(self):
        self.calls = []

    def __call__(self, X, rng):
        self.calls.append((X.copy(), rng))
        return X + 100


def test_every_training_batch_is_transformed_and_the_model_trains_on_the_result():
    model, shift = RecordingModel(), Shift()
    trainer = make_trainer(model, shift)
    trainer.fit()
    assert len(shift.calls) == len(model.trained_on) == 6  # 2 epochs of batches of 4, 4, 2
    for (given, _), trained in zip(shift.calls, model.trained_on):
        np.testing.assert_array_equal(trained, given + 100)
    assert sorted(np.concatenate([given[:, 0, 0, 0] for given, _ in shift.calls[:3]])) == list(range(10))


def test_accuracy_is_measured_on_the_untransformed_images():
    model, shift = RecordingModel(), Shift()
    trainer = make_trainer(model, shift)
    _, train_history, val_history = trainer.fit()
    assert train_history == val_history == [1.0, 1.0]  # a shifted image would be predicted as label + 100
    assert all(X.max() < 10 for X in model.predicted_on)
    assert trainer.compute_accuracy(trainer.dataset.val_X, trainer.dataset.val_y) == 1.0
    assert len(shift.calls) == 6


def test_the_dataset_is_left_alone():
    def in_place(X, rng):
        X += 1  # the trainer hands over a copy of the batch
        return X

    dataset = label_dataset()
    before = dataset.train_X.copy()
    make_trainer(transform=in_place, dataset=dataset).fit()
    np.testing.assert_array_equal(dataset.train_X, before)


def test_the_transform_gets_the_trainers_generator():
    shift = Shift()
    trainer = make_trainer(transform=shift, seed=np.random.default_rng(5))
    trainer.fit()
    generators = {id(rng) for _, rng in shift.calls}
    assert len(generators) == 1 and isinstance(shift.calls[0][1], np.random.Generator)
    assert shift.calls[0][1] is trainer._rng


def noise(X, rng):
    return X + rng.normal(0.0, 0.3, size=X.shape).astype(X.dtype)


def blobs(n, seed):
    """16x16 images of two classes: a bright square top left or bottom right."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = 0.1 * rng.standard_normal((n, 16, 16, 1))
    X[y == 0, 2:6, 2:6] += 1.0
    X[y == 1, 10:14, 10:14] += 1.0
    return X, y


def train_conv_net(seed, transform=noise, dtype=np.float64):
    (train_X, train_y), (val_X, val_y) = blobs(24, 0), blobs(8, 1)
    model = ConvNet((16, 16, 1), 2, 4, 4, dtype=dtype, seed=0)
    trainer = Trainer(model, Dataset(train_X.astype(dtype), train_y, val_X.astype(dtype), val_y), Adam(),
                      num_epochs=3, batch_size=8, learning_rate=1e-2, seed=seed, verbose=False, transform=transform)
    trainer.fit()
    history = [{key: value for key, value in record.items() if key != "seconds"} for record in trainer.history]
    return history, {name: param.value.copy() for name, param in model.params().items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_seeded_run_with_a_random_transform_is_reproducible(dtype):
    global_state = np.random.get_state()[1].copy()
    history, params = train_conv_net(3, dtype=dtype)
    history_again, params_again = train_conv_net(3, dtype=dtype)
    assert history == history_again
    for name in params:
        np.testing.assert_array_equal(params_again[name], params[name], err_msg=name)
    _, other_params = train_conv_net(4, dtype=dtype)
    _, plain_params = train_conv_net(3, transform=None, dtype=dtype)
    assert not np.array_equal(other_params["fc_W"], params["fc_W"])
    assert not np.array_equal(plain_params["fc_W"], params["fc_W"])
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)


@pytest.mark.parametrize("transform, error, match", [
    (lambda X, rng: X[:, :4], ValueError,
     r"`transform` must return an array of the batch's shape \(4, 8, 8, 1\), got shape \(4, 4, 8, 1\)"),
    (lambda X, rng: X[:2], ValueError, r"`transform` must return an array of the batch's shape \(4, 8, 8, 1\), "
                                       r"got shape \(2, 8, 8, 1\)"),
    (lambda X, rng: X.astype(np.float32), TypeError,
     r"`transform` must return an array of the batch's dtype float64, got float32"),
    (lambda X, rng: X.tolist(), TypeError, r"`transform` must return a numpy array, got list"),
    (lambda X, rng: None, TypeError, r"`transform` must return a numpy array, got NoneType"),
    (lambda X, rng: X * np.nan, ValueError, r"`transform\(X_batch, rng\)` must hold finite values only, got 256 NaN "
                                            r"or infinite values out of 256"),
])
def test_a_bad_transform_output_is_refused_before_the_step(transform, error, match):
    model = RecordingModel()
    trainer = make_trainer(model, transform)
    with pytest.raises(error, match=match):
        trainer.fit()
    assert model.trained_on == [] and trainer.history == []
    np.testing.assert_array_equal(model.w.value, [0.0, 0.0])


@pytest.mark.parametrize("transform", [3, "shift", np.ones(3)])
def test_a_transform_that_is_not_callable_is_refused(transform):
    with pytest.raises(TypeError, match=r"`transform` must be None or a callable \(X_batch, rng\) -> X_batch, "
                                          r"e.g. augment.DIGITS, got"):
        make_trainer(transform=transform)


def test_augment_digits_in_a_seeded_run_is_reproducible():
    """augment.py's default set for digits through the trainer: the same seed gives the same run."""
    augment = pytest.importorskip("augment")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((24, 16, 16, 3)).astype(np.float32), rng.integers(0, 2, 24)

    def run(seed):
        model = ConvNet((16, 16, 3), 2, 4, 4, dtype=np.float32, seed=0)
        trainer = Trainer(model, Dataset(X[:16], y[:16], X[16:], y[16:]), Adam(), num_epochs=2, batch_size=8,
                          learning_rate=1e-2, seed=seed, verbose=False, transform=augment.DIGITS)
        losses = trainer.fit()[0]
        return losses, model.params()["conv1_W"].value.copy()

    (losses, weights), (losses_again, weights_again) = run(1), run(1)
    assert losses == losses_again
    np.testing.assert_array_equal(weights, weights_again)
    assert not np.array_equal(run(2)[1], weights)
