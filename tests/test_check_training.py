"""Tests of checks_training.py: every check passes on our model.py, optim.py and trainer.py, fails with the right
hint on a copy of them with one known bug, and reports `not implemented` on the template's stubs."""
import shutil
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import check_solution
import checks_training  # noqa: F401  (registers the checks)
import model
import optim
import trainer
import checks_base
from checks_base import REGISTRY

REPO = Path(__file__).resolve().parent.parent
MODULES = ("model", "optim", "trainer")
IDS = [check_id for check_id, entry in REGISTRY.items() if entry.function.__module__ == "checks_training"]
TEMPLATE = {
    "model.py": """
        class ConvNet:
            def __init__(self, input_shape, n_output_classes, conv1_channels, conv2_channels):
                raise Exception("Not implemented!")

            def compute_loss_and_gradients(self, X, y):
                raise Exception("Not implemented!")

            def predict(self, X):
                raise Exception("Not implemented!")

            def params(self):
                raise Exception("Not implemented!")
        """,
    "optim.py": """
        class SGD:
            def __init__(self):
                raise Exception("Not implemented!")

            def update(self, w, d_w, learning_rate):
                raise Exception("Not implemented!")


        class MomentumSGD:
            def __init__(self, momentum=0.9):
                raise Exception("Not implemented!")

            def update(self, w, d_w, learning_rate):
                raise Exception("Not implemented!")
        """,
    "trainer.py": """
        class Dataset:
            def __init__(self, train_X, train_y, val_X, val_y):
                raise Exception("Not implemented!")


        class Trainer:
            def __init__(self, model, dataset, optim, num_epochs=20, batch_size=20, learning_rate=1e-2,
                         learning_rate_decay=1.0):
                raise Exception("Not implemented!")

            def fit(self):
                raise Exception("Not implemented!")

            def compute_accuracy(self, X, y):
                raise Exception("Not implemented!")
        """,
}


def test_every_module_of_ours_has_checks():
    assert {REGISTRY[check_id].module for check_id in IDS} == set(MODULES)


@pytest.mark.parametrize("check_id", IDS)
def test_check_passes_on_our_modules_and_keeps_the_global_rng(check_id):
    before = np.random.get_state()
    assert REGISTRY[check_id].function(SimpleNamespace(model=model, optim=optim, trainer=trainer)) is None
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2:] == after[2:]


# (file, our code, the bug put in its place, module, {check id: hint key of its failure}); every other check of
# the module must still pass.
MUTANTS = [
    pytest.param("optim.py", 'self.momentum = _check_decay(momentum, "momentum")', "self.momentum = 0.9", "optim",
                 {"MomentumSGD.update.momentum_argument": "momentum_ignored"}, id="momentum_ignored"),
    pytest.param("optim.py", "self.momentum * _state_or_zeros(self.velocity, w)", "self.momentum * np.zeros_like(w)",
                 "optim", {"MomentumSGD.update.velocity": None, "MomentumSGD.update.momentum_argument": None,
                           "MomentumSGD.init.default_momentum": None, "MomentumSGD.update.per_instance": None},
                 id="velocity_forgotten"),
    pytest.param("layers.py", "W = check_rng(seed).standard_normal(shape) * np.sqrt(gain / fan_in)",
                 "W = check_rng(seed).standard_normal(shape)", "model", {"ConvNet.init.initial_loss": "init_scale"},
                 id="conv_unit_variance"),
    pytest.param("sequential.py", "for param in params.values():\n        param.zero_grad()",
                 "for param in params.values():\n        pass", "model",
                 {"ConvNet.compute_loss_and_gradients.grads_zeroed": "grads_not_zeroed"}, id="grads_not_zeroed"),
    pytest.param("model.py", 'return {f"{layer_name}_{param_name}": param', "return {param_name: param", "model",
                 {"ConvNet.params.all_parameters": None}, id="params_duplicate_names"),
    pytest.param("model.py", "self._forward(X[start:start + batch_size]).argmax(axis=1)",
                 "self._forward(X[start:start + batch_size]).argmin(axis=1)", "model",
                 {"ConvNet.predict.lowest_loss": None}, id="predict_argmin"),
    pytest.param("trainer.py", "loss_sum += self._train_step(", "loss_sum = len(batches) * self._train_step(",
                 "trainer", {"Trainer.fit.epoch_loss": "epoch_loss_last_batch"}, id="epoch_loss_last_batch"),
    pytest.param("trainer.py", "order = self._rng.permutation(X.shape[0])",
                 "order = np.random.RandomState(0).permutation(X.shape[0])", "trainer",
                 {"Trainer.fit.reshuffled": None}, id="shuffled_once"),
    pytest.param("trainer.py", "range(0, len(order), self.batch_size)",
                 "range(0, len(order) - self.batch_size + 1, self.batch_size)", "trainer",
                 {"Trainer.fit.every_sample_once": None}, id="last_partial_batch_dropped"),
    pytest.param("trainer.py", "self.learning_rate *= self.learning_rate_decay", "self.learning_rate *= 1.0",
                 "trainer", {"Trainer.fit.learning_rate_decay": None}, id="decay_not_applied"),
    pytest.param("trainer.py", "{name: copy.deepcopy(optim) for name in model.params()}",
                 "{name: optim for name in model.params()}", "trainer", {"Trainer.fit.optimizer_per_param": None},
                 id="one_optimizer_shared"),
]


@pytest.mark.parametrize("file, original, bug, module, failing", MUTANTS)
def test_mutant_fails_the_right_check_with_its_hint(tmp_path, file, original, bug, module, failing):
    for path in REPO.glob("*.py"):
        shutil.copy(path, tmp_path)
    text = (tmp_path / file).read_text()
    assert text.count(original) == 1, f"{file} changed: update this mutant"
    (tmp_path / file).write_text(text.replace(original, bug))

    checks = {entry["id"]: entry for entry in check_solution.run(str(tmp_path), only=[module])["checks"]}

    assert set(checks) == {check_id for check_id in IDS if REGISTRY[check_id].module == module}
    for check_id, entry in checks.items():
        if check_id in failing:
            assert (entry["status"], entry["hint_key"]) == ("fail", failing[check_id]), entry
        else:
            assert entry["status"] == "pass", entry


def test_template_stubs_are_not_implemented(tmp_path):
    for name, text in TEMPLATE.items():
        (tmp_path / name).write_text(textwrap.dedent(text))

    report = check_solution.run(str(tmp_path), only=list(MODULES))

    statuses = {entry["id"]: entry["status"] for entry in report["checks"]}
    assert statuses == {check_id: "not implemented" for check_id in IDS}


class _SharedVelocityMomentumSGD:
    """A learner's MomentumSGD whose velocity is a class attribute: every instance steps with the others' velocity."""
    velocity = 0.0

    def __init__(self, momentum=0.9):
        self.momentum = momentum

    def update(self, w, d_w, learning_rate):
        type(self).velocity = self.momentum * type(self).velocity - learning_rate * d_w
        return w + type(self).velocity


class _ForgetfulMomentumSGD(_SharedVelocityMomentumSGD):
    """A learner's MomentumSGD that never keeps its velocity: plain SGD."""

    def update(self, w, d_w, learning_rate):
        return w - learning_rate * d_w


def _run_check(check_id, **modules):
    return REGISTRY[check_id].function(SimpleNamespace(**modules))


def test_a_velocity_shared_between_instances_is_named_at_a_new_instances_first_step():
    _SharedVelocityMomentumSGD.velocity = 0.0
    _run_check("MomentumSGD.update.velocity", optim=SimpleNamespace(MomentumSGD=_SharedVelocityMomentumSGD))
    with pytest.raises(checks_base.CheckFailed, match=r"after its first step.*class attribute or a global") as error:
        _run_check("MomentumSGD.update.momentum_argument",
                   optim=SimpleNamespace(MomentumSGD=_SharedVelocityMomentumSGD))
    assert error.value.hint is None


def test_an_optimizer_without_velocity_is_named_plain_sgd():
    with pytest.raises(checks_base.CheckFailed, match=r"after step 2 .*plain SGD steps, without velocity"):
        _run_check("MomentumSGD.update.velocity", optim=SimpleNamespace(MomentumSGD=_ForgetfulMomentumSGD))


class _RandomModelWithoutParams:
    """A learner's ConvNet that draws from the global RNG and forgets its parameters."""

    def __init__(self, input_shape, n_output_classes, conv1_channels, conv2_channels):
        self.W = np.random.randn(3, 3)

    def params(self):
        return {}


def test_a_failing_check_leaves_the_global_rng_as_it_was():
    before = np.random.get_state()
    with pytest.raises(checks_base.CheckFailed, match=r"params\(\) holds 0 parameters .*missing: conv1 W"):
        _run_check("ConvNet.params.all_parameters", model=SimpleNamespace(ConvNet=_RandomModelWithoutParams))
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2:] == after[2:]


class _HalfDefaultMomentumSGD:
    """A learner's MomentumSGD whose default momentum is 0.5 instead of the contract's 0.9."""

    def __init__(self, momentum=0.5):
        self.momentum, self.velocity = momentum, 0.0

    def update(self, w, d_w, learning_rate):
        self.velocity = self.momentum * self.velocity - learning_rate * d_w
        return w + self.velocity


def test_a_wrong_default_momentum_is_named_without_the_ignored_argument_hint():
    optim_module = SimpleNamespace(MomentumSGD=_HalfDefaultMomentumSGD)
    _run_check("MomentumSGD.update.momentum_argument", optim=optim_module)
    with pytest.raises(checks_base.CheckFailed, match=r"MomentumSGD\(\): w after step 2 is that of momentum 0.5, "
                                                      r"not 0.9") as error:
        _run_check("MomentumSGD.init.default_momentum", optim=optim_module)
    assert error.value.hint is None


class _ConvNetWithWrongShapes:
    """A learner's ConvNet that passes its channel count as the filter size: six parameters, unique names."""

    def __init__(self, input_shape, n_output_classes, conv1_channels, conv2_channels):
        shapes = {"c1W": (conv1_channels, conv1_channels, 3, 3), "c1B": (3,), "c2W": (3, 3, 3, conv2_channels),
                  "c2B": (conv2_channels,), "fW": (4 * conv2_channels, 10), "fB": (1, 10)}
        self._params = {name: SimpleNamespace(value=np.zeros(shape), grad=np.zeros(shape))
                        for name, shape in shapes.items()}

    def params(self):
        return self._params


def test_six_parameters_of_wrong_shapes_are_named_without_blaming_their_names():
    with pytest.raises(checks_base.CheckFailed) as failed:
        _run_check("ConvNet.params.all_parameters", model=SimpleNamespace(ConvNet=_ConvNetWithWrongShapes))
    message = failed.value.message
    assert "holds 6 parameters" in message and "missing: conv1 W (3, 3, 3, 2)" in message
    assert "'c1W' (2, 2, 3, 3)" in message and "same name" not in message


def test_trainer_accuracies_are_not_judged_when_the_learners_metric_is_wrong(monkeypatch):
    """The course template's metrics stub returns 0: its correct trainer.py reports 0 as the accuracy."""
    monkeypatch.setitem(sys.modules, "metrics", SimpleNamespace(multiclass_accuracy=lambda prediction, truth: 0))
    monkeypatch.setattr(trainer, "multiclass_accuracy", lambda prediction, truth: 0)
    for check_id in ("Trainer.fit.accuracies", "Trainer.compute_accuracy.value"):
        outcome = _run_check(check_id, trainer=trainer)
        assert isinstance(outcome, checks_base.Info) and "your metrics.multiclass_accuracy gives 0" in outcome.message
