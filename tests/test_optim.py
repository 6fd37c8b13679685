"""optim.py: steps computed by hand, the plain formulas as oracles, state per instance, dtypes, bad arguments."""
import copy
import pickle
import weakref

import numpy as np
import pytest

from layers import Param
from optim import SGD, Adam, AdamW, MomentumSGD, RMSProp

OPTIMIZERS = [SGD, MomentumSGD, lambda: MomentumSGD(nesterov=True), Adam, RMSProp, AdamW,
              lambda: SGD(weight_decay=0.1), lambda: MomentumSGD(weight_decay=0.1), lambda: Adam(weight_decay=0.1),
              lambda: RMSProp(weight_decay=0.1)]
STATEFUL = [MomentumSGD, Adam, RMSProp, AdamW]


def train_step(optimizer, param, grad, in_place=False):
    """One update of `param` as a hand-written loop does it: the new array assigned, or copied into the old one."""
    new_value = optimizer.update(param.value, grad, 0.1)
    if in_place:
        param.value[...] = new_value
    else:
        param.value = new_value


def steps(optimizer, w, grads, learning_rate):
    """The successive values of w after an update with each gradient of `grads`."""
    values = []
    for grad in grads:
        w = optimizer.update(np.array(w, dtype=float), np.array(grad, dtype=float), learning_rate)
        values.append(w)
    return values


def test_sgd_step():
    w = np.array([1.0, 2.0])
    new_w = SGD().update(w, np.array([0.5, -1.0]), 0.1)
    np.testing.assert_allclose(new_w, [0.95, 2.1])
    np.testing.assert_array_equal(w, [1.0, 2.0])


def test_momentum_steps_by_hand():
    # momentum 0.5, lr 0.1: v1 = -0.1 * 1 = -0.1, w1 = 0.9; v2 = 0.5 * -0.1 - 0.1 * 2 = -0.25, w2 = 0.65
    w1, w2 = steps(MomentumSGD(momentum=0.5), [1.0], [[1.0], [2.0]], 0.1)
    np.testing.assert_allclose(w1, [0.9])
    np.testing.assert_allclose(w2, [0.65])


def test_momentum_argument_is_honoured():
    grads = [[1.0], [1.0], [1.0]]
    assert not np.allclose(steps(MomentumSGD(momentum=0.5), [0.0], grads, 0.1)[-1],
                           steps(MomentumSGD(), [0.0], grads, 0.1)[-1])
    # v1 = -0.1, v2 = -0.19, v3 = -0.271 with the default 0.9
    np.testing.assert_allclose(steps(MomentumSGD(), [0.0], grads, 0.1)[-1], [-0.1 - 0.19 - 0.271])


def test_momentum_zero_is_sgd():
    grads = np.random.default_rng(0).standard_normal((4, 3))
    for momentum_w, sgd_w in zip(steps(MomentumSGD(momentum=0.0), np.ones(3), grads, 0.1),
                                 steps(SGD(), np.ones(3), grads, 0.1)):
        np.testing.assert_allclose(momentum_w, sgd_w)


def test_nesterov_steps_by_hand():
    # momentum 0.5, lr 0.1: v1 = -0.1, w1 = 1 + 0.5 * -0.1 - 0.1 = 0.85;
    # v2 = 0.5 * -0.1 - 0.2 = -0.25, w2 = 0.85 + 0.5 * -0.25 - 0.2 = 0.525
    w1, w2 = steps(MomentumSGD(momentum=0.5, nesterov=True), [1.0], [[1.0], [2.0]], 0.1)
    np.testing.assert_allclose(w1, [0.85])
    np.testing.assert_allclose(w2, [0.525])


def test_nesterov_matches_the_cs231n_form():
    """`w += -mu * v_prev + (1 + mu) * v` (cs231n notes) is the same update written differently."""
    rng = np.random.default_rng(1)
    grads, mu, learning_rate = rng.standard_normal((5, 4)), 0.7, 0.05
    w, v = np.ones(4), np.zeros(4)
    for grad, optimized in zip(grads, steps(MomentumSGD(momentum=mu, nesterov=True), np.ones(4), grads,
                                            learning_rate)):
        v_prev, v = v, mu * v - learning_rate * grad
        w = w - mu * v_prev + (1 + mu) * v
        np.testing.assert_allclose(optimized, w)


def test_adam_steps_by_hand():
    learning_rate, eps = 0.1, 1e-8
    w1, w2 = steps(Adam(), [1.0, 1.0], [[0.5, -2.0], [1.0, 1.0]], learning_rate)
    # Step 1: m = 0.1 g, v = 0.001 g**2; bias correction divides them by 0.1 and 0.001: a step of lr * sign(g).
    np.testing.assert_allclose(w1, [1 - 0.1 * 0.5 / (0.5 + eps), 1 + 0.1 * 2.0 / (2.0 + eps)])
    # Step 2, first coordinate: m = 0.9 * 0.05 + 0.1 * 1 = 0.145, v = 0.999 * 0.00025 + 0.001 * 1 = 0.00124975,
    # m_hat = 0.145 / (1 - 0.9**2) = 0.145 / 0.19, v_hat = 0.00124975 / (1 - 0.999**2) = 0.00124975 / 0.001999.
    m_hat, v_hat = 0.145 / 0.19, 0.00124975 / 0.001999
    # Second coordinate: m = 0.9 * -0.2 + 0.1 = -0.08, v = 0.999 * 0.004 + 0.001 = 0.004996.
    m_hat_2, v_hat_2 = -0.08 / 0.19, 0.004996 / 0.001999
    np.testing.assert_allclose(w2, [w1[0] - learning_rate * m_hat / (np.sqrt(v_hat) + eps),
                                    w1[1] - learning_rate * m_hat_2 / (np.sqrt(v_hat_2) + eps)])


def test_adam_counts_its_steps_and_honours_its_arguments():
    adam = Adam(beta1=0.5, beta2=0.75, eps=0.1)
    w1, = steps(adam, [0.0], [[2.0]], 1.0)
    # m_hat = g = 2, v_hat = g**2 = 4: step 2 / (2 + 0.1)
    np.testing.assert_allclose(w1, [-2.0 / 2.1])
    assert adam.t == 1
    np.testing.assert_allclose(adam.m, [1.0])
    np.testing.assert_allclose(adam.v, [1.0])


def test_rmsprop_steps_by_hand():
    # decay 0.9, lr 0.01: cache1 = 0.1 * 4 = 0.4, w1 = 1 - 0.01 * 2 / sqrt(0.4);
    # cache2 = 0.9 * 0.4 + 0.1 * 1 = 0.46, w2 = w1 - 0.01 * 1 / sqrt(0.46)
    w1, w2 = steps(RMSProp(decay=0.9), [1.0], [[2.0], [1.0]], 0.01)
    np.testing.assert_allclose(w1, [1 - 0.01 * 2 / np.sqrt(0.4)])
    np.testing.assert_allclose(w2, [w1[0] - 0.01 / np.sqrt(0.46)])


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_update_returns_a_new_array_and_leaves_inputs_alone(make):
    w, d_w = np.array([1.0, -1.0]), np.array([0.5, 0.25])
    new_w = make().update(w, d_w, 0.1)
    assert new_w is not w and not np.shares_memory(new_w, w)
    np.testing.assert_array_equal(w, [1.0, -1.0])
    np.testing.assert_array_equal(d_w, [0.5, 0.25])


@pytest.mark.parametrize("grad_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", OPTIMIZERS)
def test_float32_parameters_stay_float32(make, grad_dtype):
    optimizer = make()
    w = np.ones((2, 3), dtype=np.float32)
    for _ in range(3):
        w = optimizer.update(w, np.full((2, 3), 0.5, dtype=grad_dtype), 1e-3)
        assert w.dtype == np.float32
    for state in ("velocity", "m", "v", "cache"):
        assert getattr(optimizer, state, None) is None or getattr(optimizer, state).dtype == np.float32


@pytest.mark.parametrize("make", STATEFUL)
def test_state_is_per_instance(make):
    grads = [[1.0], [3.0]]
    original = make()
    steps(original, [0.0], grads[:1], 0.1)
    copied = copy.deepcopy(original)
    fresh_copy_result = steps(copied, [0.0], grads[1:], 0.1)[0]
    assert not np.allclose(fresh_copy_result, steps(make(), [0.0], grads[1:], 0.1)[0])
    assert np.allclose(steps(original, [0.0], grads[1:], 0.1)[0], fresh_copy_result)


@pytest.mark.parametrize("make", STATEFUL)
def test_one_instance_for_two_shapes_is_an_error(make):
    optimizer = make()
    optimizer.update(np.ones(3), np.ones(3), 0.1)
    with pytest.raises(ValueError, match=r"one [A-Za-z]+ instance per parameter: this one holds the state of a "
                                         r"parameter of shape \(3,\) and was given one of shape \(4,\); use "
                                         r"copy.deepcopy\(optimizer\) for each parameter, as Trainer does"):
        optimizer.update(np.ones(4), np.ones(4), 0.1)


SHARED = r"one [A-Za-z]+ instance per parameter: this one holds the state of another parameter .* use " \
         r"copy.deepcopy\(optimizer\) for each parameter, as Trainer does"


def state_of(optimizer):
    return {name: copy.deepcopy(value) for name, value in vars(optimizer).items() if not name.startswith("_")}


def assert_same_state(actual, expected):
    assert actual.keys() == expected.keys()
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


@pytest.mark.parametrize("n_params", [2, 3])
@pytest.mark.parametrize("in_place", [False, True], ids=["assigned", "in-place"])
@pytest.mark.parametrize("make", STATEFUL)
def test_one_instance_shared_by_same_shape_parameters_is_refused_at_their_second_step(make, in_place, n_params):
    """The issue's case: parameters of one shape updated in turn through one instance used to share its state."""
    rng = np.random.default_rng(2)
    params = [Param(rng.standard_normal((2, 3))) for _ in range(n_params)]
    optimizer = make()
    for param in params:  # step 1: each parameter is new to the optimizer, which cannot tell them from a reload
        train_step(optimizer, param, rng.standard_normal((2, 3)), in_place)
    before, value = state_of(optimizer), params[0].value.copy()
    with pytest.raises(ValueError, match=SHARED):
        train_step(optimizer, params[0], rng.standard_normal((2, 3)), in_place)
    assert_same_state(state_of(optimizer), before)
    np.testing.assert_array_equal(params[0].value, value)


@pytest.mark.parametrize("make", STATEFUL)
def test_one_instance_per_parameter_matches_the_plain_formulas(make):
    """The rule's remedy, in a hand-written loop: one deep copy per parameter, each as if it were alone."""
    rng = np.random.default_rng(3)
    initial = rng.standard_normal((3, 2, 3))
    grads = rng.standard_normal((4, 3, 2, 3))  # (step, parameter, 2, 3)
    params = [Param(value.copy()) for value in initial]
    prototype = make()
    optimizers = [copy.deepcopy(prototype) for _ in params]
    for step_grads in grads:
        for param, optimizer, grad in zip(params, optimizers, step_grads):
            param.value = optimizer.update(param.value, grad, 0.1)
    for index, param in enumerate(params):
        np.testing.assert_allclose(param.value, steps(make(), initial[index], grads[:, index], 0.1)[-1])


@pytest.mark.parametrize("flow", [
    "assigned", "in-place", "same array again", "replaced by a copy", "replaced by a new value", "deep-copied",
    "pickled"])
@pytest.mark.parametrize("make", STATEFUL)
def test_legitimate_flows_of_one_parameter_are_never_refused(make, flow):
    """Everything that happens to one parameter between its updates: the optimizer keeps serving it."""
    rng = np.random.default_rng(4)
    param, optimizer = Param(rng.standard_normal(5)), make()
    for step in range(6):
        grad = rng.standard_normal(5)
        if flow == "same array again":
            optimizer.update(param.value, grad, 0.1)  # a result thrown away, the same array passed again
        elif flow == "replaced by a copy" and step % 2:
            param.value = param.value.copy()  # e.g. restore_best puts back a copy
        elif flow == "replaced by a new value" and step == 3:
            param.value = rng.standard_normal(5)  # e.g. checkpoint.load_params, or the notebook setting W.value
        elif flow == "deep-copied" and step == 3:
            optimizer = copy.deepcopy(optimizer)
        elif flow == "pickled" and step == 3:
            before = state_of(optimizer)
            optimizer = pickle.loads(pickle.dumps(optimizer))
            assert_same_state(state_of(optimizer), before)
        train_step(optimizer, param, grad, in_place=flow == "in-place")


@pytest.mark.parametrize("make", STATEFUL)
def test_an_earlier_value_put_back_must_be_a_copy(make):
    """An array the optimizer returned before its last update is what a shared instance sees: pass a copy instead."""
    optimizer, grad = make(), np.ones(3)
    first = optimizer.update(np.zeros(3), grad, 0.1)
    second = optimizer.update(first, grad, 0.1)
    optimizer.update(second, grad, 0.1)
    with pytest.raises(ValueError, match=r"to put back an earlier value of the same parameter, pass a copy of it"):
        optimizer.update(first, grad, 0.1)
    optimizer.update(first.copy(), grad, 0.1)


def test_sgd_has_no_state_and_can_be_shared():
    sgd, rng = SGD(), np.random.default_rng(5)
    params = [Param(rng.standard_normal(3)) for _ in range(2)]
    for _ in range(3):
        for param in params:
            expected = param.value - 0.1 * np.ones(3)
            param.value = sgd.update(param.value, np.ones(3), 0.1)
            np.testing.assert_allclose(param.value, expected)


def test_the_optimizer_keeps_no_array_alive():
    optimizer, w = Adam(), np.ones(3)
    new_w = optimizer.update(w, np.ones(3), 0.1)
    references = [weakref.ref(w), weakref.ref(new_w)]
    del w, new_w
    assert [reference() for reference in references] == [None, None]


@pytest.mark.parametrize("make, error, match", [
    (lambda: MomentumSGD(momentum=1.0), ValueError, r"`momentum` must be in \[0, 1\), got 1.0"),
    (lambda: MomentumSGD(momentum=-0.1), ValueError, r"`momentum` must be a finite number >= 0"),
    (lambda: MomentumSGD(momentum="0.9"), TypeError, r"`momentum` must be a real number"),
    (lambda: MomentumSGD(nesterov="yes"), TypeError, r"`nesterov` must be True or False, got 'yes'"),
    (lambda: Adam(beta1=1), ValueError, r"`beta1` must be in \[0, 1\)"),
    (lambda: Adam(beta2=1.5), ValueError, r"`beta2` must be in \[0, 1\)"),
    (lambda: Adam(eps=0), ValueError, r"`eps` must be a finite number > 0"),
    (lambda: RMSProp(decay=1.0), ValueError, r"`decay` must be in \[0, 1\)"),
    (lambda: RMSProp(eps=-1e-8), ValueError, r"`eps` must be a finite number > 0"),
    (lambda: AdamW(beta1=1.0), ValueError, r"`beta1` must be in \[0, 1\)"),
    (lambda: AdamW(eps=0.0), ValueError, r"`eps` must be a finite number > 0"),
    *[(lambda make=make, value=value: make(weight_decay=value), error, match)
      for make in (SGD, MomentumSGD, Adam, RMSProp, AdamW)
      for value, error, match in [
          (-0.1, ValueError, r"`weight_decay` must be a finite number >= 0, got -0.1"),
          (np.inf, ValueError, r"`weight_decay` must be a finite number >= 0, got inf"),
          (np.nan, ValueError, r"`weight_decay` must be a finite number >= 0, got nan"),
          ("0.1", TypeError, r"`weight_decay` must be a real number, got '0.1'")]],
])
def test_bad_constructor_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("make", OPTIMIZERS)
@pytest.mark.parametrize("w, d_w, learning_rate, error, match", [
    (np.ones(3), np.ones(4), 0.1, ValueError, r"`d_w` must have the shape of `w` \(3,\), got \(4,\)"),
    (np.ones(3), np.ones(3), -0.1, ValueError, r"`learning_rate` must be a finite number >= 0"),
    (np.ones(3), np.ones(3), np.inf, ValueError, r"`learning_rate` must be a finite number"),
    (np.ones(3, dtype=int), np.ones(3), 0.1, TypeError, r"`w` must be an array of floats"),
    (np.ones(3), np.ones(3, dtype=int), 0.1, TypeError, r"`d_w` must be an array of floats"),
])
def test_bad_update_arguments(make, w, d_w, learning_rate, error, match):
    optimizer = make()
    with pytest.raises(error, match=match):
        optimizer.update(w, d_w, learning_rate)
    assert getattr(optimizer, "t", 0) == 0


# ------------------------------------------------------------------------------------------------ weight decay

def test_sgd_weight_decay_steps_by_hand():
    # lr 0.5, weight_decay 0.1: g1 = [1, 0] + 0.1 * [2, -1] = [1.2, -0.1], w1 = [2 - 0.6, -1 + 0.05] = [1.4, -0.95];
    # a zero gradient then only decays: g2 = 0.1 * w1 = [0.14, -0.095], w2 = [1.4 - 0.07, -0.95 + 0.0475]
    w1, w2 = steps(SGD(weight_decay=0.1), [2.0, -1.0], [[1.0, 0.0], [0.0, 0.0]], 0.5)
    np.testing.assert_allclose(w1, [1.4, -0.95])
    np.testing.assert_allclose(w2, [1.33, -0.9025])


def test_momentum_weight_decay_steps_by_hand():
    # momentum 0.5, lr 0.1, weight_decay 0.1: g1 = 1 + 0.1 * 1 = 1.1, v1 = -0.11, w1 = 0.89;
    # g2 = 2 + 0.1 * 0.89 = 2.089, v2 = 0.5 * -0.11 - 0.1 * 2.089 = -0.2639, w2 = 0.89 - 0.2639 = 0.6261
    w1, w2 = steps(MomentumSGD(momentum=0.5, weight_decay=0.1), [1.0], [[1.0], [2.0]], 0.1)
    np.testing.assert_allclose(w1, [0.89])
    np.testing.assert_allclose(w2, [0.6261])


def test_nesterov_weight_decay_steps_by_hand():
    # momentum 0.5, lr 0.1, weight_decay 0.1: g1 = 1.1, v1 = -0.11, w1 = 1 + 0.5 * -0.11 - 0.11 = 0.835;
    # g2 = 2 + 0.0835 = 2.0835, v2 = -0.055 - 0.20835 = -0.26335, w2 = 0.835 - 0.131675 - 0.20835 = 0.494975
    w1, w2 = steps(MomentumSGD(momentum=0.5, nesterov=True, weight_decay=0.1), [1.0], [[1.0], [2.0]], 0.1)
    np.testing.assert_allclose(w1, [0.835])
    np.testing.assert_allclose(w2, [0.494975])


def test_adam_weight_decay_steps_by_hand():
    eps = 1e-8
    # weight_decay 0.5 turns the gradient 0.2 at w = -1 into 0.2 - 0.5 = -0.3: step 1 is lr * sign = +0.1
    w1, w2 = steps(Adam(weight_decay=0.5), [-1.0], [[0.2], [0.2]], 0.1)
    np.testing.assert_allclose(w1, [-1 + 0.1 * 0.3 / (0.3 + eps)])
    # g2 = 0.2 + 0.5 * -0.9 = -0.25; m = 0.9 * -0.03 + 0.1 * -0.25 = -0.052;
    # v = 0.999 * 0.00009 + 0.001 * 0.0625 = 0.00015241; bias corrections 1 - 0.9**2 = 0.19, 1 - 0.999**2 = 0.001999
    m_hat, v_hat = -0.052 / 0.19, 0.00015241 / 0.001999
    np.testing.assert_allclose(w2, [-0.9 - 0.1 * m_hat / (np.sqrt(v_hat) + eps)], rtol=1e-7)


def test_rmsprop_weight_decay_steps_by_hand():
    # decay 0.9, lr 0.01, weight_decay 0.5: g1 = 1.5 + 0.5 = 2, cache1 = 0.4, w1 = 1 - 0.02 / sqrt(0.4) = 0.96837722
    # g2 = 1 + 0.5 * 0.96837722 = 1.48418861, cache2 = 0.36 + 0.1 * 1.48418861**2 = 0.58028164
    w1, w2 = steps(RMSProp(decay=0.9, weight_decay=0.5), [1.0], [[1.5], [1.0]], 0.01)
    np.testing.assert_allclose(w1, [0.96837722], rtol=1e-8)
    np.testing.assert_allclose(w2, [0.96837722 - 0.01 * 1.48418861 / np.sqrt(0.58028164)], rtol=1e-8)


def test_adamw_steps_by_hand():
    eps = 1e-8
    # lr 0.1, weight_decay 0.1: w is first multiplied by 1 - 0.01 = 0.99, then Adam's step (lr * sign at step 1)
    w1, w2 = steps(AdamW(weight_decay=0.1), [1.0, -2.0], [[0.5, 0.5], [1.0, -1.0]], 0.1)
    np.testing.assert_allclose(w1, [0.99 - 0.1 * 0.5 / (0.5 + eps), -1.98 - 0.1 * 0.5 / (0.5 + eps)])
    # step 2: w1 * 0.99 = [0.8811, -2.0592]; m = [0.145, -0.055], v = [0.00124975, 0.00124975] (raw gradients)
    denominator = np.sqrt(0.00124975 / 0.001999) + eps
    np.testing.assert_allclose(w2, [0.8811 - 0.1 * (0.145 / 0.19) / denominator,
                                    -2.0592 + 0.1 * (0.055 / 0.19) / denominator], rtol=1e-7)


def test_adamw_decay_is_scaled_by_the_learning_rate():
    """PyTorch's rule `w *= 1 - lr * weight_decay`: a zero rate changes nothing, decay or not."""
    optimizer = AdamW(weight_decay=0.5)
    np.testing.assert_array_equal(optimizer.update(np.array([3.0]), np.array([1.0]), 0.0), [3.0])
    assert optimizer.t == 1


@pytest.mark.parametrize("make, make_decayed", [
    (SGD, SGD), (MomentumSGD, MomentumSGD), (lambda: MomentumSGD(nesterov=True), lambda **kw: MomentumSGD(
        nesterov=True, **kw)), (Adam, Adam), (RMSProp, RMSProp), (Adam, AdamW)])
def test_zero_weight_decay_is_the_plain_rule(make, make_decayed):
    grads = np.random.default_rng(6).standard_normal((4, 3))
    for plain, decayed in zip(steps(make(), np.ones(3), grads, 0.1),
                              steps(make_decayed(weight_decay=0.0), np.ones(3), grads, 0.1)):
        np.testing.assert_array_equal(decayed, plain)


@pytest.mark.parametrize("make", [SGD, MomentumSGD, Adam, RMSProp])
def test_weight_decay_is_the_gradient_plus_decay_times_w(make):
    """PyTorch's meaning: the rule with weight decay is the plain rule given `d_w + weight_decay * w`."""
    rng = np.random.default_rng(7)
    grads, w = rng.standard_normal((5, 3)), rng.standard_normal(3)
    decayed, plain, w_plain = make(weight_decay=0.3), make(), w.copy()
    for grad, w_decayed in zip(grads, steps(decayed, w, grads, 0.05)):
        w_plain = plain.update(w_plain, grad + 0.3 * w_plain, 0.05)
        np.testing.assert_allclose(w_decayed, w_plain, rtol=1e-14)


def test_the_default_weight_decay():
    assert [make().weight_decay for make in (SGD, MomentumSGD, Adam, RMSProp)] == [0.0] * 4
    assert AdamW().weight_decay == 0.01 and (AdamW().beta1, AdamW().beta2, AdamW().eps) == (0.9, 0.999, 1e-8)


@pytest.mark.parametrize("optimizer, text", [
    (SGD(), "SGD(weight_decay=0.0)"),
    (MomentumSGD(0.5, weight_decay=0.1), "MomentumSGD(momentum=0.5, nesterov=False, weight_decay=0.1)"),
    (Adam(weight_decay=1e-4), "Adam(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.0001)"),
    (RMSProp(), "RMSProp(decay=0.99, eps=1e-08, weight_decay=0.0)"),
    (AdamW(), "AdamW(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.01)"),
])
def test_repr(optimizer, text):
    assert repr(optimizer) == text
