"""Training state: optimizers' state_dict round trips, a Trainer stopped and continued from its checkpoint giving
the same run as one never stopped, and the rules on replacing checkpoint files."""
import copy

import numpy as np
import pytest
from test_trainer import SHAPE, blobs

from augment import RandomShift
from checkpoint import load_model, load_training_state, save_model
from model import ConvNet, vgg
from optim import SGD, Adam, AdamW, MomentumSGD, RMSProp
from schedules import from_spec
from trainer import Dataset, Trainer

OPTIMIZERS = [SGD(weight_decay=0.01), MomentumSGD(0.8), MomentumSGD(0.9, nesterov=True, weight_decay=0.01),
              Adam(beta1=0.8), AdamW(weight_decay=0.05), RMSProp(decay=0.9)]


# optimizers

def run_updates(optimizer, w, gradients, rate=0.1):
    for d_w in gradients:
        w = optimizer.update(w, d_w, rate)
    return w


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
def test_optimizer_state_round_trip_through_a_checkpoint(tmp_path, optimizer, dtype):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 4)).astype(dtype)
    gradients = rng.standard_normal((6, 3, 4)).astype(dtype)
    straight = copy.deepcopy(optimizer)
    expected = run_updates(straight, w, gradients)

    first = copy.deepcopy(optimizer)
    middle = run_updates(first, w, gradients[:3])
    save_model(ConvNet(SHAPE, 2, 1, 1), tmp_path / "m.npz", training_state={"optim": first.state_dict()})
    second = copy.deepcopy(optimizer)  # new instance: the same settings, no state
    second.load_state_dict(load_training_state(tmp_path / "m.npz")["optim"])
    result = run_updates(second, middle.copy(), gradients[3:])
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, expected)
    assert repr(second) == repr(optimizer)


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
def test_optimizer_state_before_any_update_round_trips(optimizer):
    state = copy.deepcopy(optimizer).state_dict()
    fresh = copy.deepcopy(optimizer)
    fresh.load_state_dict(state)
    w = np.ones(3)
    np.testing.assert_array_equal(run_updates(fresh, w, [np.ones(3)]), run_updates(copy.deepcopy(optimizer), w,
                                                                                   [np.ones(3)]))


@pytest.mark.parametrize("state, match", [
    ({"optimizer": "Adam", "state": {"m": None, "v": None, "t": 0}}, r"the state of 'Adam' cannot be loaded into "
                                                                     r"MomentumSGD"),
    ({"optimizer": "MomentumSGD", "state": {}}, r"`state\['state'\]` must have the keys velocity, got none"),
    ({"optimizer": "MomentumSGD", "state": {"velocity": "x"}}, r"`state\['state'\]\['velocity'\]` must be None or "
                                                               r"a float ndarray, got str"),
    ([1], r"`state` must be a dict from state_dict\(\)"),
    ({"optimizer": "MomentumSGD", "state": {"velocity": np.array([1.0, np.nan])}},
     r"`state\['state'\]\['velocity'\]` must hold finite values only, got 1 NaN or infinite"),
])
def test_optimizer_refuses_a_state_that_is_not_its_own(state, match):
    optimizer = MomentumSGD()
    with pytest.raises((TypeError, ValueError), match=match):
        optimizer.load_state_dict(state)
    assert optimizer.velocity is None


def test_adam_refuses_moments_of_two_shapes():
    state = Adam().state_dict()
    state["state"] = {"m": np.zeros(2), "v": np.zeros(3), "t": 1}
    with pytest.raises(ValueError, match=r"`m` and `v` must have the same shape"):
        Adam().load_state_dict(state)


# a Trainer stopped and continued

def dataset():
    (train_X, train_y), (val_X, val_y) = blobs(40, 0), blobs(16, 1)
    return Dataset(train_X, train_y, val_X, val_y)


RECIPES = {
    "adamw warmup+cosine, shifts": dict(optim=AdamW(weight_decay=0.01), schedule=from_spec("warmup:1+cosine", 4),
                                        transform=RandomShift(2)),
    "nesterov, decay 0.9, restore_best, patience": dict(optim=MomentumSGD(0.9, nesterov=True),
                                                        learning_rate_decay=0.9, restore_best=True, patience=3),
    "rmsprop": dict(optim=RMSProp()),
}


def make_trainer(recipe, model=None, **kwargs):
    recipe = dict(RECIPES[recipe])
    return Trainer(model or ConvNet(SHAPE, 2, 3, 4, seed=0), dataset(), recipe.pop("optim"), num_epochs=4,
                   batch_size=8, learning_rate=1e-2, seed=5, verbose=False, **recipe, **kwargs)


def after_one_epoch(recipe):
    """make_trainer(recipe) after one epoch of fit, and its state_dict()."""
    trainer = make_trainer(recipe)
    trainer.fit(1)
    return trainer, trainer.state_dict()


def without_seconds(history):
    return [{key: value for key, value in record.items() if key != "seconds"} for record in history]


def assert_same_run(trainer, other):
    for name, param in trainer.model.params().items():
        np.testing.assert_array_equal(param.value, other.model.params()[name].value, err_msg=name)
    assert without_seconds(trainer.history) == without_seconds(other.history)
    assert (trainer.epoch, trainer.best_epoch, trainer.learning_rate) == (other.epoch, other.best_epoch,
                                                                         other.learning_rate)


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_four_epochs_straight_equal_two_then_two_from_the_checkpoint(tmp_path, recipe):
    straight = make_trainer(recipe)
    straight.fit()
    path = tmp_path / "model.npz"
    first = make_trainer(recipe, checkpoint_path=path)
    first.fit(2)
    # A new process: the model and the training state come from the file only.
    resumed = make_trainer(recipe, model=load_model(path), checkpoint_path=path)
    resumed.load_checkpoint(path)
    assert resumed.epoch == 2 and len(resumed.history) == 2
    resumed.fit(2)
    assert [record["epoch"] for record in resumed.history] == [1, 2, 3, 4]
    assert_same_run(resumed, straight)
    assert load_training_state(path)["epoch"] == 4


@pytest.mark.parametrize("shared", [False, True], ids=["dropout's own generator", "the trainer's generator"])
def test_dropout_masks_go_on_after_a_resume_as_in_a_run_never_stopped(tmp_path, shared):
    """train.py gives Dropout the trainer's generator; a hand-built model may give it its own: both resume exactly."""
    def new_run(model=None, generator=None, **kwargs):
        generator = generator or np.random.default_rng(5)
        model = model or vgg(SHAPE, 2, widths=(2,), dropout=0.5, seed=generator if shared else 0)
        return Trainer(model, dataset(), Adam(), num_epochs=4, batch_size=8, learning_rate=1e-2, seed=generator,
                       verbose=False, **kwargs)

    straight = new_run()
    straight.fit()
    path = tmp_path / "model.npz"
    new_run(checkpoint_path=path).fit(2)
    resumed = new_run(model=load_model(path), generator=np.random.default_rng(123), checkpoint_path=path)
    resumed.load_checkpoint(path)
    resumed.fit(2)
    assert_same_run(resumed, straight)


def test_an_interrupt_mid_epoch_saves_the_state_of_the_last_completed_epoch(tmp_path):
    straight = make_trainer("adamw warmup+cosine, shifts")
    straight.fit()
    calls = []

    def interrupt_in_epoch_three(X, rng):
        calls.append(1)
        if len(calls) == 12:  # 5 batches per epoch: the second batch of epoch 3
            raise KeyboardInterrupt
        return RandomShift(2)(X, rng)

    stopped = make_trainer("adamw warmup+cosine, shifts")
    stopped.transform = interrupt_in_epoch_three
    stopped.fit()
    assert stopped.interrupted and stopped.epoch == 2
    stopped.save_checkpoint(tmp_path / "stopped.npz")
    resumed = make_trainer("adamw warmup+cosine, shifts", model=load_model(tmp_path / "stopped.npz"))
    resumed.load_checkpoint(tmp_path / "stopped.npz")
    resumed.fit(2)
    assert_same_run(resumed, straight)


def test_state_dict_round_trips_in_memory():
    trainer, state = after_one_epoch("rmsprop")
    other = make_trainer("rmsprop", model=ConvNet(SHAPE, 2, 3, 4, seed=9))
    other.load_state_dict(state)
    trainer.fit(1)
    other.fit(1)
    assert_same_run(other, trainer)


def test_load_state_dict_refuses_another_optimizer_or_model_and_changes_nothing():
    _, state = after_one_epoch("rmsprop")
    other = make_trainer("adamw warmup+cosine, shifts")
    before = {name: param.value.copy() for name, param in other.model.params().items()}
    with pytest.raises(ValueError, match=r"optimizer state of `conv1_W`: the state of 'RMSProp' cannot be loaded "
                                         r"into AdamW"):
        other.load_state_dict(state)
    smaller = Trainer(ConvNet(SHAPE, 2, 2, 4, seed=0), dataset(), RMSProp(), verbose=False)
    with pytest.raises(ValueError, match=r"parameter `conv1_W` of the training state has shape \(3, 3, 1, 3\), the "
                                         r"model's has \(3, 3, 1, 2\)"):
        smaller.load_state_dict(state)
    assert other.epoch == 0 and other.history == []
    for name, param in other.model.params().items():
        np.testing.assert_array_equal(param.value, before[name])


def test_load_checkpoint_of_a_file_without_training_state(tmp_path):
    trainer = make_trainer("rmsprop")
    save_model(trainer.model, tmp_path / "old.npz")  # as every checkpoint was before training states
    with pytest.raises(ValueError, match=r"old.npz holds no training state \(only a model\)"):
        trainer.load_checkpoint(tmp_path / "old.npz")


# replacing checkpoint files

def test_a_new_trainer_refuses_to_replace_an_earlier_runs_checkpoint(tmp_path):
    path = tmp_path / "best.npz"
    make_trainer("rmsprop", checkpoint_path=path).fit(1)
    before = path.read_bytes()
    trainer = make_trainer("rmsprop", checkpoint_path=path)
    weights = trainer.model.params()["conv1_W"].value.copy()
    with pytest.raises(FileExistsError, match=rf"`checkpoint_path` {path} already holds a checkpoint this Trainer "
                                              r"did not write.*overwrite_checkpoint=True"):
        trainer.fit(1)
    assert path.read_bytes() == before and trainer.epoch == 0
    np.testing.assert_array_equal(trainer.model.params()["conv1_W"].value, weights)


def test_the_best_sibling_alone_is_protected_too(tmp_path):
    make_trainer("rmsprop", checkpoint_path=tmp_path / "model.npz").fit(1)
    (tmp_path / "model.npz").unlink()
    with pytest.raises(FileExistsError, match=r"model.best.npz, which already holds a checkpoint this Trainer did"):
        make_trainer("rmsprop", checkpoint_path=tmp_path / "model.npz").fit(1)


def test_the_same_trainer_continuing_or_overwrite_checkpoint_may_replace(tmp_path):
    path = tmp_path / "model.npz"
    trainer = make_trainer("rmsprop", checkpoint_path=path)
    trainer.fit(1)
    trainer.fit(1)
    assert load_training_state(path)["epoch"] == 2
    again = make_trainer("rmsprop", checkpoint_path=path, overwrite_checkpoint=True)
    again.fit(1)
    assert load_training_state(path)["epoch"] == 1


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_file_that_is_not_a_checkpoint_is_never_replaced(tmp_path, overwrite):
    path = tmp_path / "notes.npz"
    path.write_text("my notes")
    trainer = make_trainer("rmsprop", checkpoint_path=path, overwrite_checkpoint=overwrite)
    with pytest.raises(FileExistsError, match=r"`checkpoint_path` .*notes.npz holds a file that is not a checkpoint "
                                              r"of this package"):
        trainer.fit(1)
    assert path.read_text() == "my notes" and trainer.epoch == 0


def test_save_checkpoint_follows_save_models_rule(tmp_path):
    trainer = make_trainer("rmsprop")
    trainer.save_checkpoint(tmp_path / "state.npz")
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        trainer.save_checkpoint(tmp_path / "state.npz")
    trainer.save_checkpoint(tmp_path / "state.npz", overwrite=True)


def test_an_optimizer_without_state_dict_trains_and_checkpoints_without_its_state(tmp_path):
    class Plain:
        def update(self, w, d_w, learning_rate):
            return w - learning_rate * d_w

    model = ConvNet(SHAPE, 2, 3, 4, seed=0)
    trainer = Trainer(model, dataset(), Plain(), num_epochs=1, batch_size=8, verbose=False,
                      checkpoint_path=tmp_path / "model.npz")
    trainer.fit()
    state = load_training_state(tmp_path / "model.npz")
    assert "optimizers" not in state and state["epoch"] == 1
    other = Trainer(load_model(tmp_path / "model.npz"), dataset(), Plain(), verbose=False)
    other.load_state_dict(state)
    assert other.epoch == 1
