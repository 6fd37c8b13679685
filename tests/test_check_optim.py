"""Tests of checks_optim.py: every check passes on our optim.py, fails with the right hint on a copy of it with one
known bug, names the bugs of hand-written learner optimizers, and reports `not implemented` on the template's
stubs."""
from types import SimpleNamespace

import pytest
from check_harness import check_runner, failures, module_tests
from mutants import appended

import optim
from selfcheck import base
from selfcheck.checks import optim as checks_optim

run_check = check_runner(optim=optim)
TEMPLATE = {
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
}


# (file, our code, the bug put in its place, module, failures({check id: hint key of its failure})); every
# other check of the module must still pass.
MUTANTS = [
    pytest.param("optim.py", appended("""
        _init = MomentumSGD.__init__


        def _momentum_ignored(self, *args, **kwargs):
            _init(self, *args, **kwargs)
            self.momentum = 0.9
        MomentumSGD.__init__ = _momentum_ignored
        """), "optim", failures({"MomentumSGD.update.momentum_argument": "momentum_ignored"}), id="momentum_ignored"),
    pytest.param("optim.py", appended("""
        _update = MomentumSGD.update


        def _velocity_forgotten(self, *args, **kwargs):
            self.velocity = None  # every step starts from zero velocity
            return _update(self, *args, **kwargs)
        MomentumSGD.update = _velocity_forgotten
        """), "optim", failures(dict.fromkeys(["MomentumSGD.update.velocity", "MomentumSGD.update.momentum_argument",
                                                "MomentumSGD.init.default_momentum",
                                                "MomentumSGD.update.per_instance"])),
                 id="velocity_forgotten"),
]


(test_every_module_of_ours_has_checks, test_check_passes_on_our_modules_and_keeps_the_global_rng,
 test_mutant_fails_the_right_check_with_its_hint, test_template_stubs_are_not_implemented) = module_tests(
    "optim", checks_optim, run_check, MUTANTS, TEMPLATE)


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


def test_a_velocity_shared_between_instances_is_named_at_a_new_instances_first_step():
    _SharedVelocityMomentumSGD.velocity = 0.0
    run_check("MomentumSGD.update.velocity", optim=SimpleNamespace(MomentumSGD=_SharedVelocityMomentumSGD))
    with pytest.raises(base.CheckFailed, match=r"after its first step.*class attribute or a global") as error:
        run_check("MomentumSGD.update.momentum_argument",
                   optim=SimpleNamespace(MomentumSGD=_SharedVelocityMomentumSGD))
    assert error.value.hint is None


def test_an_optimizer_without_velocity_is_named_plain_sgd():
    with pytest.raises(base.CheckFailed, match=r"after step 2 .*plain SGD steps, without velocity"):
        run_check("MomentumSGD.update.velocity", optim=SimpleNamespace(MomentumSGD=_ForgetfulMomentumSGD))


class _LearnerMomentumSGD:
    """A learner's right MomentumSGD, its velocity starting at `velocity`: the bugs below change one thing of it."""

    def __init__(self, momentum=0.9, velocity=0.0):
        self.momentum, self.velocity = momentum, velocity

    def update(self, w, d_w, learning_rate):
        self.velocity = self.momentum * self.velocity - learning_rate * d_w
        return w + self.velocity


class _HalfDefaultMomentumSGD(_LearnerMomentumSGD):
    """A learner's MomentumSGD whose default momentum is 0.5 instead of the contract's 0.9."""

    def __init__(self, momentum=0.5):
        super().__init__(momentum)


def test_a_wrong_default_momentum_is_named_without_the_ignored_argument_hint():
    optim_module = SimpleNamespace(MomentumSGD=_HalfDefaultMomentumSGD)
    run_check("MomentumSGD.update.momentum_argument", optim=optim_module)
    with pytest.raises(base.CheckFailed, match=r"MomentumSGD\(\): w after step 2 is that of momentum 0.5, "
                                                      r"not 0.9") as error:
        run_check("MomentumSGD.init.default_momentum", optim=optim_module)
    assert error.value.hint is None


class _InPlaceMomentumSGD:
    """A learner's MomentumSGD that moves w in place and returns it (`w += v; return w`), as SGD.update may."""

    def __init__(self, momentum=0.9, ignore_argument=False):
        self.momentum, self.velocity = 0.9 if ignore_argument else momentum, 0.0

    def update(self, w, d_w, learning_rate):
        self.velocity = self.momentum * self.velocity - learning_rate * d_w
        w += self.velocity
        return w


class _InPlaceIgnoringMomentumSGD(_InPlaceMomentumSGD):
    def __init__(self, momentum=0.9):
        super().__init__(momentum, ignore_argument=True)


def test_an_optimizer_updating_w_in_place_is_judged_by_its_steps():
    for check_id in ("SGD.update.formula", "MomentumSGD.update.velocity", "MomentumSGD.update.momentum_argument",
                     "MomentumSGD.init.default_momentum", "MomentumSGD.update.per_instance"):
        module = SimpleNamespace(MomentumSGD=_InPlaceMomentumSGD, SGD=optim.SGD)
        assert run_check(check_id, optim=module) is None, check_id
    with pytest.raises(base.CheckFailed, match=r"is that of momentum 0.9, not 0.5") as error:
        run_check("MomentumSGD.update.momentum_argument",
                   optim=SimpleNamespace(MomentumSGD=_InPlaceIgnoringMomentumSGD))
    assert error.value.hint == "momentum_ignored"


class _VelocityStartsAtStepMomentumSGD(_LearnerMomentumSGD):
    """A learner's MomentumSGD whose velocity starts at learning_rate * d_w instead of zero (on the instance)."""

    def __init__(self, momentum=0.9):
        super().__init__(momentum, velocity=None)

    def update(self, w, d_w, learning_rate):
        if self.velocity is None:
            self.velocity = learning_rate * d_w
        return super().update(w, d_w, learning_rate)


def test_a_wrong_start_of_the_velocity_is_not_blamed_on_a_class_attribute():
    module = SimpleNamespace(MomentumSGD=_VelocityStartsAtStepMomentumSGD)
    with pytest.raises(base.CheckFailed, match=r"after its first step.*starts at zero\)") as error:
        run_check("MomentumSGD.update.velocity", optim=module)
    assert "class attribute" not in error.value.message
    with pytest.raises(base.CheckFailed, match=r"one instance alone steps wrong already"):
        run_check("MomentumSGD.update.per_instance", optim=module)


def test_instances_sharing_their_velocity_are_named_by_the_per_instance_check():
    _SharedVelocityMomentumSGD.velocity = 0.0
    with pytest.raises(base.CheckFailed, match=r"a new instance moves w with a zero gradient, so the "
                                                      r"instances share their velocity \(a class attribute or a "
                                                      r"global\?\)"):
        run_check("MomentumSGD.update.per_instance", optim=SimpleNamespace(MomentumSGD=_SharedVelocityMomentumSGD))


class _VelocityStartsAtConstantMomentumSGD(_LearnerMomentumSGD):
    """A learner's MomentumSGD whose velocity starts at 0.1 (`self.velocity = 0.1` in __init__)."""

    def __init__(self, momentum=0.9):
        super().__init__(momentum, velocity=0.1)


def test_a_velocity_starting_at_a_constant_is_not_called_shared():
    module = SimpleNamespace(MomentumSGD=_VelocityStartsAtConstantMomentumSGD)
    with pytest.raises(base.CheckFailed, match=r"a new instance moves w with a zero gradient: its velocity "
                                                      r"does not start at zero\)") as error:
        run_check("MomentumSGD.update.velocity", optim=module)
    assert "shared" not in error.value.message
    with pytest.raises(base.CheckFailed, match=r"a new instance's velocity does not start at zero"):
        run_check("MomentumSGD.update.per_instance", optim=module)
