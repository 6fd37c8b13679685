"""Tests of checks_trainer.py: every check passes on our trainer.py, fails with the right hint on a copy of it with
one known bug, and reports `not implemented` on the template's stubs."""
import ast
import sys
from types import SimpleNamespace

import pytest
from check_harness import check_runner, failures, module_tests
from mutants import appended, chained, dropped, expression, is_call, replaced, rewritten

import trainer
from selfcheck import base
from selfcheck.checks import trainer as checks_trainer

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
def epoch_loss_of_the_last_batch(source):
    """trainer.py where the epoch's sum of batch losses (`total += self._train_step(...)`) becomes the last batch's
    loss times the divisor of the epoch's mean (whatever divides `total`): the mean is then the last batch's loss."""
    tree = ast.parse(source)
    step = next(node for node in ast.walk(tree) if isinstance(node, ast.AugAssign) and
                is_call(node.value, "_train_step"))
    total = ast.unparse(step.target)
    divisor = next(node.right for node in ast.walk(tree) if isinstance(node, ast.BinOp) and
                   isinstance(node.op, ast.Div) and ast.unparse(node.left) == total)
    last_only = ast.parse(f"{total} = {ast.unparse(divisor)} * {ast.unparse(step.value)}").body[0]
    return rewritten(None, replaced(lambda node: ast.dump(node) == ast.dump(step), lambda node: last_only))(source)


MUTANTS = [
    pytest.param("trainer.py", epoch_loss_of_the_last_batch, "trainer",
                 failures({"Trainer.fit.epoch_loss": "epoch_loss_last_batch"}), id="epoch_loss_last_batch"),
    pytest.param("trainer.py", rewritten(None, replaced(
        lambda node: is_call(node, "permutation"),
        lambda node: expression(f"np.random.RandomState(0).permutation({ast.unparse(node.args[0])})"))), "trainer",
                 failures({"Trainer.fit.reshuffled": None}), id="shuffled_once"),
    pytest.param("trainer.py", chained(rewritten(None, replaced(
        lambda node: is_call(node, "permutation"),
        lambda node: expression(f"_reseeded(10).permutation({ast.unparse(node.args[0])})"))), appended("""
        def _reseeded(seed):
            np.random.seed(seed)
            return np.random
        """)), "trainer",
                 {"Trainer.fit.reshuffled": ("fail", None, "do not reseed the random generator inside fit")},
                 id="reseeded_before_each_shuffle"),
    # The batches' range(0, len(order), batch_size) -> range(0, len(order) - batch_size + 1, batch_size)
    pytest.param("trainer.py", rewritten(None, replaced(
        lambda node: is_call(node, "range") and len(node.args) == 3 and is_call(node.args[1], "len"),
        lambda node: expression("range({0}, {1} - {2} + 1, {2})".format(*map(ast.unparse, node.args))))),
                 "trainer", failures({"Trainer.fit.every_sample_once": None}), id="last_partial_batch_dropped"),
    pytest.param("trainer.py", rewritten(None, dropped(
        lambda node: isinstance(node, ast.AugAssign) and ast.unparse(node.target) == "self.learning_rate")),
                 "trainer", failures({"Trainer.fit.learning_rate_decay": None}), id="decay_not_applied"),
    pytest.param("trainer.py", rewritten("Trainer.__init__", replaced(
        lambda node: is_call(node, "deepcopy"), lambda node: node.args[0])), "trainer",
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

