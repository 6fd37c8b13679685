"""Learning-rate schedules: the factor of each epoch, by which `Trainer` multiplies its base `learning_rate`.

A schedule is any callable `schedule(epoch) -> factor`, epochs counted from 1: epoch e of training uses
`learning_rate * schedule(e)`. The classes here also have a readable `repr` and `config()` (their constructor
arguments, JSON-serializable); a plain function such as `lambda epoch: 0.95 ** (epoch - 1)` works as well.

Each class follows the PyTorch scheduler named in its docstring, stepped once after every epoch: the rate of epoch e
is the one torch's optimizer holds after e - 1 calls of `scheduler.step()` (`tests/test_torch_optim.py` checks it).
`from_spec` builds a schedule from short text, as `train.py --schedule` takes it.
"""
import math
import numbers

from validation import check_int, check_number

SPEC_FORMS = ("constant, step:EVERY:FACTOR, multistep:M1,M2,...:FACTOR, cosine[:MIN_FACTOR], "
              "warmup:EPOCHS[+SCHEDULE]")


class StepDecay:
    """The rate multiplied by `factor` every `step_size` epochs: the assignment's "anneal by 0.2 every N epochs".

    Factor of epoch e: `factor ** ((e - 1) // step_size)`, so epochs 1..step_size run at the full rate. PyTorch's
    `StepLR(step_size, gamma=factor)`.

    Parameters
    ----------
    step_size : int >= 1
    factor : float in (0, 1]
    """

    def __init__(self, step_size, factor):
        self.step_size = check_int(step_size, "step_size", 1)
        self.factor = _check_factor(factor)

    def __call__(self, epoch):
        return self.factor ** ((_check_epoch(epoch) - 1) // self.step_size)

    def __repr__(self):
        return f"StepDecay(step_size={self.step_size}, factor={self.factor})"

    def config(self):
        return {"step_size": self.step_size, "factor": self.factor}


class MultiStep:
    """The rate multiplied by `factor` after each milestone epoch.

    Factor of epoch e: `factor ** (number of milestones < e)`: with milestones (10, 15), epochs 1-10 run at the full
    rate, 11-15 at `factor`, 16 on at `factor**2`. PyTorch's `MultiStepLR(milestones, gamma=factor)`.

    Parameters
    ----------
    milestones : sequence of increasing ints >= 1
        The epochs after which the rate drops.
    factor : float in (0, 1]
    """

    def __init__(self, milestones, factor):
        self.milestones = _check_milestones(milestones)
        self.factor = _check_factor(factor)

    def __call__(self, epoch):
        epoch = _check_epoch(epoch)
        return self.factor ** sum(milestone < epoch for milestone in self.milestones)

    def __repr__(self):
        return f"MultiStep(milestones={self.milestones}, factor={self.factor})"

    def config(self):
        return {"milestones": list(self.milestones), "factor": self.factor}


class Cosine:
    """Cosine annealing from the full rate down to `min_factor` of it over `total_epochs` epochs.

    Factor of epoch e: `min_factor + (1 - min_factor) * (1 + cos(pi * (e - 1) / total_epochs)) / 2`: 1 at epoch 1,
    `min_factor` at epoch `total_epochs + 1` and after (PyTorch's `CosineAnnealingLR(T_max=total_epochs,
    eta_min=min_factor * lr)`, which after that point would rise again instead of staying at the minimum).

    Parameters
    ----------
    total_epochs : int >= 1
    min_factor : float in [0, 1]
    """

    def __init__(self, total_epochs, min_factor=0.0):
        self.total_epochs = check_int(total_epochs, "total_epochs", 1)
        self.min_factor = check_number(min_factor, "min_factor", minimum=0, maximum=1)

    def __call__(self, epoch):
        progress = min(_check_epoch(epoch) - 1, self.total_epochs) / self.total_epochs
        return self.min_factor + (1 - self.min_factor) * (1 + math.cos(math.pi * progress)) / 2

    def __repr__(self):
        return f"Cosine(total_epochs={self.total_epochs}, min_factor={self.min_factor})"

    def config(self):
        return {"total_epochs": self.total_epochs, "min_factor": self.min_factor}


class Warmup:
    """A linear warm-up over `epochs` epochs, then the schedule `then` (or the full rate).

    Factor of epoch e <= epochs: `e / (epochs + 1)` (`warmup:2` runs at 1/3, then 2/3 of the rate); after the
    warm-up, `then(e - epochs)`: the next schedule counts its epochs from 1 where the warm-up ends. PyTorch's
    `LinearLR(start_factor=1 / (epochs + 1), total_iters=epochs)`, followed through `SequentialLR(...,
    milestones=[epochs])` when `then` is given.

    Parameters
    ----------
    epochs : int >= 1
    then : None or schedule (a callable epoch -> factor)
    """

    def __init__(self, epochs, then=None):
        self.epochs = check_int(epochs, "epochs", 1)
        if then is not None and not callable(then):
            raise TypeError(f"`then` must be None or a schedule: a callable epoch -> factor, got {then!r}")
        self.then = then

    def __call__(self, epoch):
        epoch = _check_epoch(epoch)
        if epoch <= self.epochs:
            return epoch / (self.epochs + 1)
        return 1.0 if self.then is None else self.then(epoch - self.epochs)

    def __repr__(self):
        return f"Warmup(epochs={self.epochs}, then={self.then!r})"

    def config(self):
        """`then` as `[class name, its config()]`; a `then` without `config()` raises TypeError."""
        if self.then is None:
            return {"epochs": self.epochs, "then": None}
        then_config = getattr(self.then, "config", None)
        if not callable(then_config):
            raise TypeError(f"`then` has no config() method: {self.then!r} cannot be described")
        return {"epochs": self.epochs, "then": [type(self.then).__name__, then_config()]}


class Constant:
    """The full rate in every epoch (factor 1): PyTorch's `ConstantLR(factor=1.0)`."""

    def __call__(self, epoch):
        _check_epoch(epoch)
        return 1.0

    def __repr__(self):
        return "Constant()"

    def config(self):
        return {}


def from_spec(text, num_epochs=None):
    """A schedule from short text, as `train.py --schedule` takes it.

    Forms: `constant`; `step:EVERY:FACTOR` (StepDecay, e.g. `step:5:0.2`); `multistep:M1,M2,...:FACTOR`
    (MultiStep, e.g. `multistep:10,15:0.1`); `cosine` or `cosine:MIN_FACTOR` (Cosine over `num_epochs`);
    `warmup:EPOCHS` (Warmup to the full rate) or `warmup:EPOCHS+SCHEDULE` with any form above but warmup after the
    `+`, e.g. `warmup:2+cosine` (the cosine then spans the `num_epochs - EPOCHS` epochs after the warm-up).

    Parameters
    ----------
    text : str
    num_epochs : None or int >= 1
        The length of the training run; needed by `cosine`.

    Returns
    -------
    schedule : StepDecay, MultiStep, Cosine, Warmup or Constant

    Raises
    ------
    ValueError
        Naming `schedule`, for text in no form above or with a value its schedule refuses.
    """
    if not isinstance(text, str):
        raise TypeError(f"`schedule` must be a str such as 'step:5:0.2', got {text!r} of type {type(text).__name__}")
    if num_epochs is not None:
        num_epochs = check_int(num_epochs, "num_epochs", 1)
    head, plus, tail = text.strip().partition("+")
    try:
        if not head.startswith("warmup:"):
            if plus:
                raise _BadSpec
            return _single(head, text, num_epochs, 0)
        epochs = _integer(head[len("warmup:"):])
        then = _single(tail, text, num_epochs, epochs) if plus else None
        return _build(text, Warmup, epochs, then)
    except _BadSpec:
        raise ValueError(f"`schedule` must be one of {SPEC_FORMS}, got {text!r}") from None


class _BadSpec(Exception):
    """Text in no form that `from_spec` knows."""


def _single(spec, text, num_epochs, warmup_epochs):
    """The schedule of one form other than warmup, starting after `warmup_epochs` epochs of warm-up."""
    name, _, arguments = spec.partition(":")
    parts = arguments.split(":") if arguments else []
    if name == "constant" and not parts:
        return _build(text, Constant)
    if name == "step" and len(parts) == 2:
        return _build(text, StepDecay, _integer(parts[0]), _real(parts[1]))
    if name == "multistep" and len(parts) == 2:
        return _build(text, MultiStep, [_integer(part) for part in parts[0].split(",")], _real(parts[1]))
    if name == "cosine" and len(parts) <= 1:
        if num_epochs is None:
            raise ValueError(f"`schedule` {text!r} needs `num_epochs` (the epochs the cosine spans), got None")
        if num_epochs <= warmup_epochs:
            raise ValueError(f"`schedule` {text!r} leaves no epoch for the cosine: {warmup_epochs} warm-up epochs "
                             f"of `num_epochs` {num_epochs}")
        return _build(text, Cosine, num_epochs - warmup_epochs, *map(_real, parts))
    raise _BadSpec


def _build(text, make, *arguments):
    """`make(*arguments)`, its errors rephrased as a ValueError about the text."""
    try:
        return make(*arguments)
    except (TypeError, ValueError) as error:
        raise ValueError(f"`schedule` {text!r}: {error}") from None


def _integer(text):
    if not text.isdigit() or not text.isascii():
        raise _BadSpec
    return int(text)


def _real(text):
    try:
        return float(text)
    except ValueError:
        raise _BadSpec from None


def _check_epoch(epoch):
    return check_int(epoch, "epoch", 1)


def _check_factor(factor):
    return check_number(factor, "factor", minimum=0, maximum=1, strict_minimum=True)


def _check_milestones(milestones):
    """`milestones` as a tuple of increasing ints >= 1."""
    if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
        raise TypeError(f"`milestones` must be a sequence of epochs, e.g. [10, 15], got {milestones!r}")
    milestones = list(milestones)
    for milestone in milestones:
        if isinstance(milestone, bool) or not isinstance(milestone, numbers.Integral):
            raise TypeError(f"`milestones` must hold integers, got {milestone!r} of type {type(milestone).__name__}")
    milestones = [int(milestone) for milestone in milestones]
    if not milestones or milestones[0] < 1 or any(b <= a for a, b in zip(milestones, milestones[1:])):
        raise ValueError(f"`milestones` must be increasing positive integers (at least one), got {milestones}")
    return tuple(milestones)
