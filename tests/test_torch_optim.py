"""optim.py and schedules.py against torch.optim: the same gradients, the same steps; the same rate every epoch.

Mapping of the parameters (float64 throughout):
- `MomentumSGD(momentum, nesterov)` is `torch.optim.SGD(momentum=momentum, nesterov=nesterov)` for a constant rate:
  our velocity `v = momentum * v - lr * g` is `-lr` times torch's buffer `b = momentum * b + g`.
- `RMSProp(decay, eps)` is `torch.optim.RMSprop(alpha=decay, eps=eps)`; both add eps after the square root.
- `Adam` / `AdamW(beta1, beta2, eps)` are torch's with `betas=(beta1, beta2)`; both add eps to `sqrt(v_hat)`.
- `weight_decay` has torch's meaning in each.
- A schedule gives the factor of epoch e (from 1); torch's scheduler steps after each epoch, so the rate of epoch
  e is the optimizer's rate after e - 1 calls of `scheduler.step()`.
"""
import warnings

import numpy as np
import pytest

import schedules
from optim import SGD, Adam, AdamW, MomentumSGD, RMSProp

torch = pytest.importorskip("torch")

STEPS = 10
LEARNING_RATE = 0.05


def torch_steps(make_torch_optimizer, w, grads):
    """The values of a float64 tensor after each step of the torch optimizer with each gradient of `grads`."""
    param = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    optimizer = make_torch_optimizer([param])
    values = []
    for grad in grads:
        param.grad = torch.tensor(grad, dtype=torch.float64)
        optimizer.step()
        values.append(param.detach().numpy().copy())
    return values


def our_steps(optimizer, w, grads):
    values = []
    for grad in grads:
        w = optimizer.update(w, grad, LEARNING_RATE)
        values.append(w)
    return values


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("ours, make_torch", [
    (lambda wd: SGD(weight_decay=wd),
     lambda params, wd: torch.optim.SGD(params, lr=LEARNING_RATE, weight_decay=wd)),
    (lambda wd: MomentumSGD(momentum=0.0, weight_decay=wd),
     lambda params, wd: torch.optim.SGD(params, lr=LEARNING_RATE, momentum=0.0, weight_decay=wd)),
    (lambda wd: MomentumSGD(momentum=0.9, weight_decay=wd),
     lambda params, wd: torch.optim.SGD(params, lr=LEARNING_RATE, momentum=0.9, weight_decay=wd)),
    (lambda wd: MomentumSGD(momentum=0.9, nesterov=True, weight_decay=wd),
     lambda params, wd: torch.optim.SGD(params, lr=LEARNING_RATE, momentum=0.9, nesterov=True, weight_decay=wd)),
    (lambda wd: Adam(weight_decay=wd),
     lambda params, wd: torch.optim.Adam(params, lr=LEARNING_RATE, weight_decay=wd)),
    (lambda wd: Adam(beta1=0.8, beta2=0.95, eps=1e-2, weight_decay=wd),
     lambda params, wd: torch.optim.Adam(params, lr=LEARNING_RATE, betas=(0.8, 0.95), eps=1e-2, weight_decay=wd)),
    (lambda wd: AdamW(weight_decay=wd),
     lambda params, wd: torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=wd)),
    (lambda wd: AdamW(beta1=0.8, beta2=0.95, eps=1e-2, weight_decay=10 * wd),
     lambda params, wd: torch.optim.AdamW(params, lr=LEARNING_RATE, betas=(0.8, 0.95), eps=1e-2,
                                          weight_decay=10 * wd)),
    (lambda wd: RMSProp(weight_decay=wd),
     lambda params, wd: torch.optim.RMSprop(params, lr=LEARNING_RATE, weight_decay=wd)),
    (lambda wd: RMSProp(decay=0.9, eps=1e-2, weight_decay=wd),
     lambda params, wd: torch.optim.RMSprop(params, lr=LEARNING_RATE, alpha=0.9, eps=1e-2, weight_decay=wd)),
], ids=["sgd", "momentum-0", "momentum-0.9", "nesterov", "adam", "adam-large-eps", "adamw", "adamw-large-eps",
        "rmsprop", "rmsprop-large-eps"])
def test_ten_steps_match_torch(ours, make_torch, weight_decay):
    """Gradients of mixed scales (a large eps then matters) over 10 steps, compared after every step."""
    rng = np.random.default_rng(11)
    w = rng.standard_normal((3, 4))
    grads = rng.standard_normal((STEPS, 3, 4)) * np.logspace(-3, 1, 4)
    expected = torch_steps(lambda params: make_torch(params, weight_decay), w, grads)
    actual = our_steps(ours(weight_decay), w, grads)
    assert not np.allclose(actual[-1], w, rtol=0.0, atol=1e-3)  # the parameter moved
    for step, (ours_w, torch_w) in enumerate(zip(actual, expected), start=1):
        np.testing.assert_allclose(ours_w, torch_w, rtol=1e-12, atol=1e-14, err_msg=f"step {step}")


def test_adamw_and_adam_weight_decay_differ_as_in_torch():
    """The two decays are not the same rule: a check that the comparison above can tell them apart."""
    rng = np.random.default_rng(12)
    w, grads = rng.standard_normal(5), rng.standard_normal((STEPS, 5))
    coupled = our_steps(Adam(weight_decay=0.1), w, grads)[-1]
    decoupled = our_steps(AdamW(weight_decay=0.1), w, grads)[-1]
    assert not np.allclose(coupled, decoupled, rtol=1e-6)
    np.testing.assert_allclose(
        decoupled, torch_steps(lambda params: torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=0.1),
                               w, grads)[-1], rtol=1e-12)


# ------------------------------------------------------------------------------------------------- schedules

BASE_RATE = 0.1


def torch_rates(make_scheduler, num_epochs):
    """The rate torch's optimizer holds during each epoch 1..num_epochs, the scheduler stepped after each."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=BASE_RATE)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(num_epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def our_rates(schedule, num_epochs):
    return [BASE_RATE * schedule(epoch) for epoch in range(1, num_epochs + 1)]


@pytest.mark.parametrize("schedule, make_scheduler, num_epochs", [
    (schedules.StepDecay(3, 0.2), lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.2), 13),
    (schedules.StepDecay(1, 0.5), lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5), 6),
    (schedules.MultiStep([2, 5, 6], 0.1),
     lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 5, 6], gamma=0.1), 10),
    (schedules.Cosine(10), lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10), 11),
    (schedules.Cosine(7, min_factor=0.05),
     lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=0.05 * BASE_RATE), 8),
    (schedules.Warmup(3), lambda opt: torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / 4, total_iters=3), 8),
    (schedules.Warmup(1), lambda opt: torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / 2, total_iters=1), 4),
    (schedules.Constant(), lambda opt: torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0), 4),
], ids=["step-3", "step-1", "multistep", "cosine", "cosine-min", "warmup-3", "warmup-1", "constant"])
def test_schedules_match_torch(schedule, make_scheduler, num_epochs):
    np.testing.assert_allclose(our_rates(schedule, num_epochs), torch_rates(make_scheduler, num_epochs),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("then, make_then, num_epochs", [
    (schedules.Cosine(6, min_factor=0.1),
     lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6, eta_min=0.1 * BASE_RATE), 9),
    (schedules.StepDecay(2, 0.2), lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.2), 9),
], ids=["cosine", "step"])
def test_warmup_then_another_schedule_matches_torch_sequential_lr(then, make_then, num_epochs):
    def make_scheduler(optimizer):
        warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / 3, total_iters=2)
        return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, make_then(optimizer)], milestones=[2])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR steps its second scheduler with an epoch: deprecated in torch
        expected = torch_rates(make_scheduler, num_epochs)
    np.testing.assert_allclose(our_rates(schedules.Warmup(2, then=then), num_epochs), expected, rtol=1e-12)
