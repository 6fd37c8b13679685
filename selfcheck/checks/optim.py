"""Checks of the learner's optim.py.

Only the assignment's contract is used: `SGD().update` and `MomentumSGD(momentum).update`, each
`update(w, d_w, learning_rate)` returning the new w.
"""
import numpy as np

from selfcheck.base import CheckFailed, assert_close, check, describe


@check("SGD.update.formula", needs=("optim.SGD",),
       description="SGD().update(w, d_w, learning_rate) returns w - learning_rate * d_w")
def _sgd_formula(modules):
    rng = np.random.default_rng(1210)
    w, d_w, rate = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), 0.1
    expected = w - rate * d_w
    got = modules.optim.SGD().update(w.copy(), d_w.copy(), rate)
    assert_close("SGD().update's new w", expected, _array(got, "SGD().update", w.shape), describe(shape=w.shape,
                 learning_rate=rate))


@check("MomentumSGD.update.velocity", needs=("optim.MomentumSGD",),
       description="MomentumSGD(momentum=0.9): three steps follow v = momentum * v - learning_rate * d_w; w + v")
def _momentum_velocity(modules):
    _check_momentum_steps(modules.optim.MomentumSGD(momentum=0.9), 0.9, "MomentumSGD(momentum=0.9)")


@check("MomentumSGD.update.momentum_argument", needs=("optim.MomentumSGD",),
       description="MomentumSGD(momentum=0.5) steps with momentum 0.5 (the argument is honoured)")
def _momentum_argument(modules):
    _check_momentum_steps(modules.optim.MomentumSGD(momentum=0.5), 0.5, "MomentumSGD(momentum=0.5)")


@check("MomentumSGD.init.default_momentum", needs=("optim.MomentumSGD",),
       description="MomentumSGD() steps with momentum 0.9")
def _momentum_default(modules):
    _check_momentum_steps(modules.optim.MomentumSGD(), 0.9, "MomentumSGD()")


@check("MomentumSGD.update.per_instance", needs=("optim.MomentumSGD",),
       description="two MomentumSGD instances updating two parameters in turn keep separate velocities")
def _momentum_per_instance(modules):
    rng = np.random.default_rng(1214)
    momentum, rate, steps = 0.9, 0.1, 3
    shape = (3, 4)  # the other checks' shape: a velocity leaked from them shows as wrong values, not a crash
    optimizers = [modules.optim.MomentumSGD(momentum=momentum) for _ in range(2)]
    weights = [rng.standard_normal(shape) for _ in range(2)]
    expected = [weight.copy() for weight in weights]
    velocities = [np.zeros(shape) for _ in range(2)]
    case = describe(shape=shape, momentum=momentum, learning_rate=rate, steps=steps) + ", two instances updated in turn"
    for step in range(1, steps + 1):
        for which in range(2):
            d_w = rng.standard_normal(shape)
            velocities[which] = momentum * velocities[which] - rate * d_w
            expected[which] = expected[which] + velocities[which]
            got = optimizers[which].update(weights[which], d_w.copy(), rate)
            weights[which] = _array(got, "MomentumSGD.update", shape)
            if not np.allclose(weights[which], expected[which], rtol=1e-7, atol=1e-10):
                raise CheckFailed(f"the {'second' if which else 'first'} instance's w after step {step} is not the "
                                  f"heavy-ball step's: {_why_instances_differ(modules, momentum)} ({case})")


def _why_instances_differ(modules, momentum):
    """Why two instances stepped wrong: they share a velocity (a new instance has one already, or one instance
    alone steps right), or one instance alone steps wrong already."""
    optimizer = modules.optim.MomentumSGD(momentum=momentum)
    kind = _fresh_velocity(type(optimizer))
    if kind == "shared":
        return "a new instance moves w with a zero gradient, so the instances share their velocity (a class " \
               "attribute or a global?)"
    if kind == "initial":
        return "a new instance's velocity does not start at zero (see MomentumSGD.update.velocity)"
    try:
        _check_momentum_steps(optimizer, momentum, "MomentumSGD")
    except CheckFailed:
        return "one instance alone steps wrong already (see MomentumSGD.update.velocity)"
    return "one instance alone steps right, so the two share their velocity (a class attribute or a global?)"


def _check_momentum_steps(optimizer, momentum, made_as):
    """Three steps of `optimizer` against the hand-computed heavy-ball steps, naming the momentum that fits when
    another one does (the hint `momentum_ignored` when that is the template's 0.9)."""
    rng = np.random.default_rng(1211)
    rate, shape = 0.1, (3, 4)
    w = rng.standard_normal(shape)
    gradients = [rng.standard_normal(shape) for _ in range(3)]
    case = describe(optimizer=made_as, shape=shape, learning_rate=rate)
    for step, got in enumerate(_steps(optimizer, w, gradients, rate), start=1):
        expected = _momentum_steps(w, gradients[:step], rate, momentum)
        if np.allclose(got, expected, rtol=1e-7, atol=1e-10):
            continue
        if step == 1:
            assert_close(f"{made_as}'s w after its first step, w - learning_rate * d_w whatever the momentum (the "
                         f"velocity starts at zero{_carried_over(optimizer)})", expected, got, case)
        fits = [other for other in (0.9, 0.0, 0.5, 0.99)
                if np.allclose(got, _momentum_steps(w, gradients[:step], rate, other), rtol=1e-7, atol=1e-10)]
        if fits and fits[0] == 0.0:
            raise CheckFailed(f"{made_as}: w after step {step} is that of plain SGD steps, without velocity: keep "
                              f"v = momentum * v - learning_rate * d_w between calls and return w + v ({case})")
        if fits:
            # The template's bug: `self.momentum = 0.9` whatever the argument.
            raise CheckFailed(f"{made_as}: w after step {step} is that of momentum {fits[0]}, not {momentum} "
                              f"({case})", hint="momentum_ignored" if fits[0] == 0.9 else None)
        assert_close(f"{made_as}'s w after step {step}", expected, got, case)


def _carried_over(optimizer):
    """What a fresh instance of `optimizer`'s class does with a zero gradient, for a message: "" when it leaves w
    alone, else ", and a new instance moves w ..." saying whether the move depends on other instances' updates (a
    shared velocity) or not (a velocity that does not start at zero)."""
    kind = _fresh_velocity(type(optimizer))
    if kind == "shared":
        return (", and a new instance moves w with a zero gradient, by an amount that depends on other instances' "
                "updates: its velocity is shared, a class attribute or a global?")
    if kind == "initial":
        return ", and a new instance moves w with a zero gradient: its velocity does not start at zero"
    return ""


def _fresh_velocity(optimizer_class):
    """None when a fresh instance leaves w alone with a zero gradient; "initial" when it moves w by the same amount
    whatever other instances did meanwhile; "shared" when that amount changes after other instances' updates."""
    w, zero = np.ones((3, 4)), np.zeros((3, 4))
    try:
        first = optimizer_class().update(w.copy(), zero.copy(), 0.1)
        if np.allclose(first, w):
            return None
        other = optimizer_class()
        for _ in range(3):
            other.update(w.copy(), np.full_like(w, 0.7), 0.1)
        second = optimizer_class().update(w.copy(), zero.copy(), 0.1)
    except Exception:  # the probe is only for the message: the check's own verdict stands
        return None
    return "initial" if np.allclose(second, first) else "shared"


def _steps(optimizer, w, gradients, rate):
    """Yield a copy of w after each update of `optimizer`, feeding back the returned array as the trainer does.

    The optimizer gets a copy of `w` to start from: an update may move w in place and return it.
    """
    w = w.copy()
    for d_w in gradients:
        w = _array(optimizer.update(w, d_w.copy(), rate), f"{type(optimizer).__name__}.update", w.shape)
        yield w.copy()


def _momentum_steps(w, gradients, rate, momentum):
    """w after the heavy-ball steps `v = momentum * v - rate * d_w; w = w + v` over `gradients`, from v = 0."""
    velocity = np.zeros_like(w)
    for d_w in gradients:
        velocity = momentum * velocity - rate * d_w
        w = w + velocity
    return w


def _array(got, what, shape):
    """`got` as an array of `shape`; CheckFailed for anything else (a list, a None, another shape)."""
    if not isinstance(got, np.ndarray) or got.shape != shape:
        raise CheckFailed(f"{what} returned {type(got).__name__} of shape {np.shape(got)}; expected an array of "
                          f"shape {shape}, the new w")
    return got
