"""schedules.py: factors written out by hand, composition, config, from_spec and bad arguments."""
import json
import math

import numpy as np
import pytest

from schedules import Constant, Cosine, MultiStep, StepDecay, Warmup, from_spec


def factors(schedule, num_epochs):
    return [schedule(epoch) for epoch in range(1, num_epochs + 1)]


def test_step_decay_by_hand():
    # the assignment's "anneal by 0.2 every 2 epochs": epochs 1-2 at 1, 3-4 at 0.2, 5-6 at 0.04, 7 at 0.008
    np.testing.assert_allclose(factors(StepDecay(2, 0.2), 7), [1, 1, 0.2, 0.2, 0.04, 0.04, 0.008])


def test_multi_step_by_hand():
    # the rate drops after epochs 2 and 5 (the milestones are completed epochs, as in torch's MultiStepLR)
    np.testing.assert_allclose(factors(MultiStep([2, 5], 0.1), 7), [1, 1, 0.1, 0.1, 0.1, 0.01, 0.01])


def test_cosine_by_hand():
    # factor of epoch e: min + (1 - min) * (1 + cos(pi * (e - 1) / total)) / 2; total 4, min 0.2:
    # e = 1: 1; e = 2: 0.2 + 0.8 * (1 + cos(pi / 4)) / 2 = 0.88284271; e = 3: 0.6; e = 4: 0.31715729; e = 5: 0.2
    np.testing.assert_allclose(factors(Cosine(4, min_factor=0.2), 7),
                               [1, 0.88284271, 0.6, 0.31715729, 0.2, 0.2, 0.2], rtol=1e-8)


def test_cosine_defaults_to_zero_at_its_end():
    assert factors(Cosine(2), 4) == [1.0, 0.5, 0.0, 0.0]


def test_warmup_by_hand():
    # 3 warm-up epochs at 1/4, 2/4, 3/4, then the full rate
    assert factors(Warmup(3), 6) == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_warmup_then_counts_the_next_schedule_from_its_own_epoch_one():
    # 2 warm-up epochs at 1/3 and 2/3, then StepDecay(2, 0.5) from its epoch 1 at epoch 3
    np.testing.assert_allclose(factors(Warmup(2, then=StepDecay(2, 0.5)), 7),
                               [1 / 3, 2 / 3, 1, 1, 0.5, 0.5, 0.25])


def test_warmup_then_a_plain_function():
    np.testing.assert_allclose(factors(Warmup(1, then=lambda epoch: 10.0 * epoch), 3), [0.5, 10, 20])


def test_constant():
    assert factors(Constant(), 3) == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("schedule", [StepDecay(3, 0.5), MultiStep([1], 0.5), Cosine(5), Warmup(2), Constant()])
def test_factors_are_floats(schedule):
    assert all(type(factor) is float for factor in factors(schedule, 8))


@pytest.mark.parametrize("schedule, text, config", [
    (StepDecay(5, 0.2), "StepDecay(step_size=5, factor=0.2)", {"step_size": 5, "factor": 0.2}),
    (MultiStep([10, 15], 0.1), "MultiStep(milestones=(10, 15), factor=0.1)",
     {"milestones": [10, 15], "factor": 0.1}),
    (Cosine(20), "Cosine(total_epochs=20, min_factor=0.0)", {"total_epochs": 20, "min_factor": 0.0}),
    (Warmup(2), "Warmup(epochs=2, then=None)", {"epochs": 2, "then": None}),
    (Warmup(2, then=Cosine(8, 0.1)), "Warmup(epochs=2, then=Cosine(total_epochs=8, min_factor=0.1))",
     {"epochs": 2, "then": ["Cosine", {"total_epochs": 8, "min_factor": 0.1}]}),
    (Constant(), "Constant()", {}),
])
def test_repr_and_config(schedule, text, config):
    assert repr(schedule) == text
    assert schedule.config() == config
    assert json.loads(json.dumps(schedule.config())) == config


def test_config_of_a_warmup_before_a_plain_function_is_refused():
    with pytest.raises(TypeError, match=r"`then` has no config\(\) method"):
        Warmup(2, then=math.exp).config()


@pytest.mark.parametrize("text, num_epochs, expected", [
    ("constant", None, Constant()),
    ("step:5:0.2", None, StepDecay(5, 0.2)),
    (" step:1:1 ", None, StepDecay(1, 1.0)),
    ("multistep:10,15:0.1", None, MultiStep([10, 15], 0.1)),
    ("multistep:3:0.5", None, MultiStep([3], 0.5)),
    ("cosine", 20, Cosine(20)),
    ("cosine:0.01", 20, Cosine(20, 0.01)),
    ("warmup:2", None, Warmup(2)),
    ("warmup:2+cosine", 20, Warmup(2, then=Cosine(18))),
    ("warmup:2+step:5:0.2", None, Warmup(2, then=StepDecay(5, 0.2))),
    ("warmup:3+multistep:4,8:0.5", 30, Warmup(3, then=MultiStep([4, 8], 0.5))),
])
def test_from_spec(text, num_epochs, expected):
    schedule = from_spec(text, num_epochs=num_epochs)
    assert repr(schedule) == repr(expected)
    assert factors(schedule, 25) == factors(expected, 25)


SPEC_RULE = r"`schedule` must be one of constant, step:EVERY:FACTOR, multistep:M1,M2,...:FACTOR, " \
            r"cosine\[:MIN_FACTOR\], warmup:EPOCHS\[\+SCHEDULE\]"


@pytest.mark.parametrize("text, num_epochs, match", [
    ("", None, SPEC_RULE + r", got ''"),
    ("linear", None, SPEC_RULE + r", got 'linear'"),
    ("step", None, SPEC_RULE + r", got 'step'"),
    ("step:5", None, SPEC_RULE + r", got 'step:5'"),
    ("step:5:0.2:1", None, SPEC_RULE + r", got 'step:5:0.2:1'"),
    ("step:x:0.2", None, SPEC_RULE + r", got 'step:x:0.2'"),
    ("step:2.5:0.2", None, SPEC_RULE + r", got 'step:2.5:0.2'"),
    ("step:5:fast", None, SPEC_RULE + r", got 'step:5:fast'"),
    ("multistep:10,,15:0.1", None, SPEC_RULE),
    ("Cosine", 10, SPEC_RULE + r", got 'Cosine'"),
    ("warmup:2+warmup:2", None, SPEC_RULE + r", got 'warmup:2\+warmup:2'"),
    ("warmup:2+", None, SPEC_RULE),
    ("step:0:0.2", None, r"`schedule` 'step:0:0.2': `step_size` must be a positive integer, got 0"),
    ("step:5:1.5", None, r"`schedule` 'step:5:1.5': `factor` must be a finite number > 0 and <= 1, got 1.5"),
    ("step:5:nan", None, r"`schedule` 'step:5:nan': `factor` must be a finite number > 0 and <= 1, got nan"),
    ("multistep:15,10:0.1", None, r"`schedule` 'multistep:15,10:0.1': `milestones` must be increasing"),
    ("cosine", None, r"`schedule` 'cosine' needs `num_epochs` \(the epochs the cosine spans\), got None"),
    ("cosine:2", 10, r"`schedule` 'cosine:2': `min_factor` must be a finite number >= 0 and <= 1, got 2.0"),
    ("warmup:0", None, r"`schedule` 'warmup:0': `epochs` must be a positive integer, got 0"),
    ("warmup:5+cosine", 5, r"`schedule` 'warmup:5\+cosine' leaves no epoch for the cosine: 5 warm-up epochs "
                           r"of `num_epochs` 5"),
])
def test_bad_specs(text, num_epochs, match):
    with pytest.raises(ValueError, match=match):
        from_spec(text, num_epochs=num_epochs)


@pytest.mark.parametrize("text, num_epochs, error, match", [
    (5, None, TypeError, r"`schedule` must be a str such as 'step:5:0.2', got 5 of type int"),
    ("cosine", 0, ValueError, r"`num_epochs` must be a positive integer, got 0"),
    ("cosine", 2.0, TypeError, r"`num_epochs` must be an integer"),
])
def test_bad_from_spec_arguments(text, num_epochs, error, match):
    with pytest.raises(error, match=match):
        from_spec(text, num_epochs=num_epochs)


@pytest.mark.parametrize("make, error, match", [
    (lambda: StepDecay(0, 0.5), ValueError, r"`step_size` must be a positive integer, got 0"),
    (lambda: StepDecay(2.0, 0.5), TypeError, r"`step_size` must be an integer, got 2.0"),
    (lambda: StepDecay(2, 0.0), ValueError, r"`factor` must be a finite number > 0 and <= 1, got 0.0"),
    (lambda: StepDecay(2, 2), ValueError, r"`factor` must be a finite number > 0 and <= 1, got 2.0"),
    (lambda: StepDecay(2, "0.5"), TypeError, r"`factor` must be a real number, got '0.5'"),
    (lambda: MultiStep([], 0.5), ValueError, r"`milestones` must be increasing positive integers \(at least "
                                             r"one\), got \[\]"),
    (lambda: MultiStep([3, 3], 0.5), ValueError, r"`milestones` must be increasing positive integers .*got \[3, 3\]"),
    (lambda: MultiStep([0, 3], 0.5), ValueError, r"`milestones` must be increasing positive integers .*got \[0, 3\]"),
    (lambda: MultiStep([1.5], 0.5), TypeError, r"`milestones` must hold integers, got 1.5 of type float"),
    (lambda: MultiStep(5, 0.5), TypeError, r"`milestones` must be a sequence of epochs, e.g. \[10, 15\], got 5"),
    (lambda: MultiStep("10", 0.5), TypeError, r"`milestones` must be a sequence of epochs, e.g. \[10, 15\], "
                                              r"got '10'"),
    (lambda: MultiStep([2], 1.5), ValueError, r"`factor` must be a finite number > 0 and <= 1, got 1.5"),
    (lambda: Cosine(0), ValueError, r"`total_epochs` must be a positive integer, got 0"),
    (lambda: Cosine(5, min_factor=-0.1), ValueError, r"`min_factor` must be a finite number >= 0 and <= 1"),
    (lambda: Cosine(5, min_factor=np.nan), ValueError, r"`min_factor` must be a finite number >= 0 and <= 1"),
    (lambda: Warmup(0), ValueError, r"`epochs` must be a positive integer, got 0"),
    (lambda: Warmup(2, then=0.5), TypeError, r"`then` must be None or a schedule: a callable epoch -> factor, "
                                             r"got 0.5"),
])
def test_bad_constructor_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("schedule", [StepDecay(2, 0.5), MultiStep([2], 0.5), Cosine(3), Warmup(2), Constant()])
@pytest.mark.parametrize("epoch, error, match", [
    (0, ValueError, r"`epoch` must be a positive integer, got 0"),
    (1.0, TypeError, r"`epoch` must be an integer, got 1.0"),
    (True, TypeError, r"`epoch` must be an integer, got True"),
])
def test_bad_epochs(schedule, epoch, error, match):
    with pytest.raises(error, match=match):
        schedule(epoch)


def test_numpy_integers_are_epochs_and_milestones():
    assert MultiStep(np.array([2, 4]), 0.5)(np.int64(3)) == 0.5
