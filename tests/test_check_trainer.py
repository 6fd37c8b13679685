"""Tests of checks_trainer.py: every check passes on our trainer.py, fails with the right hint on a copy of it with
one known bug, and reports `not implemented` on the template's stubs."""
import shutil
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import check_solution
import checks_base
import checks_trainer
import trainer
from checks_base import REGISTRY

MODULES = ("trainer",)
REPO = Path(__file__).resolve().parent.parent

IDS = [check_id for check_id, entry in REGISTRY.items()
       if entry.function.__module__ == checks_trainer.__name__]
TEMPLATE = {
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
    assert REGISTRY[check_id].function(SimpleNamespace(trainer=trainer)) is None
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2:] == after[2:]


# (file, our code, the bug put in its place, module, {check id: hint key of its failure}); every other check of
# the module must still pass.
MUTANTS = [
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


def _run_check(check_id, **modules):
    return REGISTRY[check_id].function(SimpleNamespace(**modules))


def test_trainer_accuracies_are_not_judged_when_the_learners_metric_is_wrong(monkeypatch):
    """The course template's metrics stub returns 0: its correct trainer.py reports 0 as the accuracy."""
    monkeypatch.setitem(sys.modules, "metrics", SimpleNamespace(multiclass_accuracy=lambda prediction, truth: 0))
    monkeypatch.setattr(trainer, "multiclass_accuracy", lambda prediction, truth: 0)
    for check_id in ("Trainer.fit.accuracies", "Trainer.compute_accuracy.value"):
        outcome = _run_check(check_id, trainer=trainer)
        assert isinstance(outcome, checks_base.Info) and "your metrics.multiclass_accuracy gives 0" in outcome.message
