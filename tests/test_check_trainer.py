"""Tests of checks_trainer.py: every check passes on our trainer.py, fails with the right hint on a copy of it with
one known bug, and reports `not implemented` on the template's stubs."""
import sys
from types import SimpleNamespace

import pytest

from selfcheck import base
from selfcheck.checks import trainer as checks_trainer
import trainer
from check_harness import check_runner, failures, module_tests

run_check = check_runner(trainer=trainer)
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


# (file, our code, the bug put in its place, module, failures({check id: hint key of its failure})); every
# other check of the module must still pass.
MUTANTS = [
    pytest.param("trainer.py", "loss_sum += self._train_step(", "loss_sum = len(batches) * self._train_step(",
                 "trainer", failures({"Trainer.fit.epoch_loss": "epoch_loss_last_batch"}),
                 id="epoch_loss_last_batch"),
    pytest.param("trainer.py", "order = self._rng.permutation(X.shape[0])",
                 "order = np.random.RandomState(0).permutation(X.shape[0])", "trainer",
                 failures({"Trainer.fit.reshuffled": None}), id="shuffled_once"),
    pytest.param("trainer.py", "order = self._rng.permutation(X.shape[0])",
                 "np.random.seed(10)\n        order = np.random.permutation(X.shape[0])", "trainer",
                 {"Trainer.fit.reshuffled": ("fail", None, "do not reseed the random generator inside fit")},
                 id="reseeded_before_each_shuffle"),
    pytest.param("trainer.py", "range(0, len(order), self.batch_size)",
                 "range(0, len(order) - self.batch_size + 1, self.batch_size)", "trainer",
                 failures({"Trainer.fit.every_sample_once": None}), id="last_partial_batch_dropped"),
    pytest.param("trainer.py", "self.learning_rate *= self.learning_rate_decay", "self.learning_rate *= 1.0",
                 "trainer", failures({"Trainer.fit.learning_rate_decay": None}), id="decay_not_applied"),
    pytest.param("trainer.py", "{name: copy.deepcopy(optim) for name in model.params()}",
                 "{name: optim for name in model.params()}", "trainer",
                 failures({"Trainer.fit.optimizer_per_param": None}), id="one_optimizer_shared"),
]


(test_every_module_of_ours_has_checks, test_check_passes_on_our_modules_and_keeps_the_global_rng,
 test_mutant_fails_the_right_check_with_its_hint, test_template_stubs_are_not_implemented) = module_tests(
    "trainer", checks_trainer, run_check, MUTANTS, TEMPLATE)


def test_trainer_accuracies_are_not_judged_when_the_learners_metric_is_wrong(monkeypatch):
    """The course template's metrics stub returns 0: its correct trainer.py reports 0 as the accuracy."""
    monkeypatch.setitem(sys.modules, "metrics", SimpleNamespace(multiclass_accuracy=lambda prediction, truth: 0))
    monkeypatch.setattr(trainer, "multiclass_accuracy", lambda prediction, truth: 0)
    for check_id in ("Trainer.fit.accuracies", "Trainer.compute_accuracy.value"):
        outcome = run_check(check_id, trainer=trainer)
        assert isinstance(outcome, base.Info) and "your metrics.multiclass_accuracy gives 0" in outcome.message

