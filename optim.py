"""Gradient-descent update rules.

Every optimizer has `update(w, d_w, learning_rate) -> new w`. It returns a new array in the dtype of `w` and never
modifies `w` in place.

One instance per parameter: `MomentumSGD`, `Adam` and `RMSProp` keep the state (velocity, moment estimates) of the
one parameter they update, so each parameter needs its own instance, e.g. `copy.deepcopy(optimizer)` for each, as
`Trainer` does. An instance given a second parameter raises a `ValueError`: at once when the shapes differ, else
at the second parameter's second step, when an array of the first comes back. A new array in place of the
parameter between two updates (a checkpoint loaded, the best parameters put back) is fine. `SGD` has no state and
can be shared.

Weight decay: `SGD`, `MomentumSGD`, `Adam` and `RMSProp` take `weight_decay=0.0` with PyTorch's meaning, an L2
penalty added to the gradient (`d_w + weight_decay * w` replaces `d_w` before the rest of the rule). `AdamW` decays
the weights apart from the gradient (`w * (1 - learning_rate * weight_decay)`, then Adam's step), as
`torch.optim.AdamW` does. `tests/test_torch_optim.py` checks every rule against `torch.optim` step by step.

State: `state_dict()` returns `{"optimizer": class name, "state": {...}}` with the arrays and counts an optimizer
keeps (MomentumSGD: `velocity`; Adam and AdamW: `m`, `v`, `t`; RMSProp: `cache`; SGD: none), None before the first
update; `load_state_dict(state)` puts such a state into an optimizer of the same class, which goes on exactly as the
one that exported it. Only the state moves: the hyperparameters (momentum, betas, weight decay) stay those the
instance was built with. Arrays, ints and None only, so a checkpoint stores it without pickle.
"""
import numbers
import weakref

import numpy as np

from validation import check_finite, check_float_array, check_number

# make_optimizer's names, and its defaults (PyTorch's).
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
MOMENTUM = 0.9
ADAMW_WEIGHT_DECAY = 0.01


class _Optimizer:
    """Base of every optimizer: the export and import of its state, the attributes named in STATE."""

    STATE = ()  # the attributes holding the state, e.g. ("m", "v", "t"): arrays or None, and counts (ints)
    COUNTS = ()  # those of STATE that are counts

    def state_dict(self):
        """The optimizer's state: {"optimizer": class name, "state": {attribute: copy of its value}}."""
        return {"optimizer": type(self).__name__,
                "state": {name: _copy(getattr(self, name)) for name in self.STATE}}

    def load_state_dict(self, state):
        """Take the state exported by `state_dict()` of an optimizer of the same class; checked first, nothing
        changes on an error.

        Raises
        ------
        TypeError, ValueError
            When `state` is not such a dict, is another class's or holds values of the wrong kind.
        """
        values = self._check_state(state)
        for name, value in values.items():
            setattr(self, name, value)
        if isinstance(self, _OneParameter):
            self._forget_arrays()

    def _check_state(self, state):
        """The checked {attribute: value} of `state`."""
        name = type(self).__name__
        if not isinstance(state, dict) or not {"optimizer", "state"} <= set(state):
            raise TypeError(f"`state` must be a dict from state_dict(), with the keys optimizer and state, got "
                            f"{state!r:.80}")
        if state["optimizer"] != name:
            raise ValueError(f"the state of {state['optimizer']!r} cannot be loaded into {name}")
        values = state["state"]
        if not isinstance(values, dict) or set(values) != set(self.STATE):
            raise ValueError(f"`state['state']` must have the keys {', '.join(self.STATE) or 'none'}, got "
                             f"{', '.join(values) if isinstance(values, dict) and values else 'none'}")
        checked = {key: _check_state_value(value, f"state['state'][{key!r}]", key in self.COUNTS)
                   for key, value in values.items()}
        arrays = [key for key in self.STATE if isinstance(checked[key], np.ndarray)]
        if len({checked[key].shape for key in arrays}) > 1:
            raise ValueError(f"`{'` and `'.join(arrays)}` must have the same shape, got "
                             f"{', '.join(str(checked[key].shape) for key in arrays)}")
        return checked


class _OneParameter(_Optimizer):
    """Base of the optimizers with state: that state is one parameter's, and a second parameter is refused.

    An instance remembers, through weak references (it keeps no array alive), the arrays it was given as `w` and
    returned. One parameter's arrays come back in order: the array returned last
    (`param.value = optim.update(param.value, ...)`) or the array given last (the same array again, possibly
    modified in place). An array never seen is taken as a new value of the same parameter (a checkpoint loaded,
    the best parameters put back, `W.value` set by hand). An array seen before but not at the last update is what
    an instance shared by several parameters is given at their second step: it is refused, state unchanged. A
    copy (copy.deepcopy, pickle) keeps the state and forgets the arrays.
    """

    def __init__(self):
        self._forget_arrays()

    def _check_parameter(self, w, state):
        """Raise ValueError unless `w` can be the parameter whose `state` (None before the first update) is held."""
        name = type(self).__name__
        rule = f"one {name} instance per parameter: this one holds the state of"
        remedy = "use copy.deepcopy(optimizer) for each parameter, as Trainer does"
        if self._seen.get(id(w)) is w and id(w) not in self._last_ids:
            raise ValueError(f"{rule} another parameter (it was given an array it saw before its last update, as "
                             f"when one instance updates several parameters in turn); {remedy} (to put back an "
                             f"earlier value of the same parameter, pass a copy of it)")
        if state is not None and state.shape != w.shape:
            raise ValueError(f"{rule} a parameter of shape {state.shape} and was given one of shape {w.shape}; "
                             f"{remedy}")

    def _remember(self, w, new_w):
        """Record the arrays of the update just made; call it only once the new state is in place."""
        for array in (w, new_w):
            self._seen[id(array)] = array
        self._last_ids = (id(w), id(new_w))

    def _forget_arrays(self):
        self._seen = weakref.WeakValueDictionary()  # id(array) -> array, for the arrays still alive elsewhere
        self._last_ids = ()

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_seen"], state["_last_ids"]  # weak references can be neither pickled nor meaningfully copied
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._forget_arrays()


class SGD(_Optimizer):
    """Plain stochastic gradient descent: `w - learning_rate * d_w`.

    Parameters
    ----------
    weight_decay : float >= 0
        L2 penalty added to the gradient: `d_w + weight_decay * w` (PyTorch's `weight_decay`).
    """

    def __init__(self, weight_decay=0.0):
        self.weight_decay = _check_weight_decay(weight_decay)

    def update(self, w, d_w, learning_rate):
        """One step.

        Parameters
        ----------
        w : float ndarray of any shape
            Current value of the parameter.
        d_w : float ndarray shaped like w
            Gradient of the loss with respect to w.
        learning_rate : float >= 0

        Returns
        -------
        ndarray shaped like w, of its dtype
        """
        w, d_w, learning_rate = _check_update(w, d_w, learning_rate)
        return w - learning_rate * _decayed_gradient(w, d_w, self.weight_decay)

    def __repr__(self):
        return f"SGD(weight_decay={self.weight_decay})"


class MomentumSGD(_OneParameter):
    """SGD with momentum (heavy ball), optionally Nesterov's variant.

    `v = momentum * v - learning_rate * d_w`, then `w + v`, or `w + momentum * v - learning_rate * d_w` with
    `nesterov=True` (the gradient step taken from the look-ahead point, in the form of Sutskever et al. 2013).
    The velocity `v` starts at zeros.

    For a constant learning rate this is `torch.optim.SGD(momentum=..., nesterov=...)` (dampening 0): PyTorch keeps
    `b = momentum * b + d_w` and steps by `-learning_rate * b`, so `v = -learning_rate * b`. When the rate changes
    between steps the two differ: `v` keeps the steps taken at the earlier rates, while PyTorch multiplies its whole
    buffer `b` by the new rate.

    One instance per parameter: see the module docstring.

    Parameters
    ----------
    momentum : float in [0, 1)
        Fraction of the velocity kept from one step to the next; 0 is plain SGD.
    nesterov : bool
    weight_decay : float >= 0
        L2 penalty added to the gradient: `d_w + weight_decay * w` (PyTorch's `weight_decay`).

    Attributes
    ----------
    velocity : ndarray shaped like w, or None before the first update
    """

    STATE = ("velocity",)

    def __init__(self, momentum=0.9, nesterov=False, weight_decay=0.0):
        super().__init__()
        self.momentum = _check_decay(momentum, "momentum")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"`nesterov` must be True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)
        self.weight_decay = _check_weight_decay(weight_decay)
        self.velocity = None

    def update(self, w, d_w, learning_rate):
        """One step; same parameters and return value as `SGD.update`."""
        w, d_w, learning_rate = _check_update(w, d_w, learning_rate)
        self._check_parameter(w, self.velocity)
        d_w = _decayed_gradient(w, d_w, self.weight_decay)
        self.velocity = self.momentum * _state_or_zeros(self.velocity, w) - learning_rate * d_w
        if self.nesterov:
            new_w = w + self.momentum * self.velocity - learning_rate * d_w
        else:
            new_w = w + self.velocity
        self._remember(w, new_w)
        return new_w

    def __repr__(self):
        return f"MomentumSGD(momentum={self.momentum}, nesterov={self.nesterov}, weight_decay={self.weight_decay})"


class Adam(_OneParameter):
    """Adam (Kingma & Ba, 2015) with bias-corrected moment estimates.

    At step t (1, 2, ...): `m = beta1 * m + (1 - beta1) * d_w`, `v = beta2 * v + (1 - beta2) * d_w**2`,
    `w - learning_rate * m_hat / (sqrt(v_hat) + eps)` with `m_hat = m / (1 - beta1**t)` and
    `v_hat = v / (1 - beta2**t)`: `torch.optim.Adam` with `betas=(beta1, beta2)`, eps in the same place.

    One instance per parameter: see the module docstring.

    Parameters
    ----------
    beta1, beta2 : float in [0, 1)
        Decay rates of the first and second moment estimates.
    eps : float > 0
        Added to the denominator for numerical stability.
    weight_decay : float >= 0
        L2 penalty added to the gradient: `d_w + weight_decay * w` (PyTorch's `weight_decay`); see `AdamW` for the
        decoupled kind.

    Attributes
    ----------
    m, v : ndarray shaped like w, or None before the first update
    t : int, the number of updates made
    """

    STATE = ("m", "v", "t")
    COUNTS = ("t",)

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__()
        self.beta1 = _check_decay(beta1, "beta1")
        self.beta2 = _check_decay(beta2, "beta2")
        self.eps = check_number(eps, "eps", minimum=0, strict_minimum=True)
        self.weight_decay = _check_weight_decay(weight_decay)
        self.m = None
        self.v = None
        self.t = 0

    def update(self, w, d_w, learning_rate):
        """One step; same parameters and return value as `SGD.update`."""
        w, d_w, learning_rate = _check_update(w, d_w, learning_rate)
        self._check_parameter(w, self.m)
        new_w = self._step(w, _decayed_gradient(w, d_w, self.weight_decay), learning_rate)
        self._remember(w, new_w)
        return new_w

    def _step(self, w, d_w, learning_rate):
        """Adam's step from `w` with the gradient `d_w`; updates the moment estimates and the step count."""
        self.t += 1
        self.m = self.beta1 * _state_or_zeros(self.m, w) + (1 - self.beta1) * d_w
        self.v = self.beta2 * _state_or_zeros(self.v, w) + (1 - self.beta2) * d_w * d_w
        m_hat = self.m / (1 - self.beta1 ** self.t)
        v_hat = self.v / (1 - self.beta2 ** self.t)
        return w - learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)

    def __repr__(self):
        return (f"{type(self).__name__}(beta1={self.beta1}, beta2={self.beta2}, eps={self.eps}, "
                f"weight_decay={self.weight_decay})")


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as `torch.optim.AdamW` computes it.

    `w * (1 - learning_rate * weight_decay)`, then Adam's step from there with the gradient `d_w` itself: the decay
    does not pass through the moment estimates, so every weight shrinks by the same fraction whatever its gradient
    history. The decay scales with the learning rate, as in PyTorch.

    One instance per parameter: see the module docstring.

    Parameters
    ----------
    beta1, beta2, eps
        As for `Adam`.
    weight_decay : float >= 0
        Fraction of the weights removed per step, times the learning rate.

    Attributes
    ----------
    m, v, t
        As for `Adam`.
    """

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
        super().__init__(beta1, beta2, eps, weight_decay)

    def update(self, w, d_w, learning_rate):
        """One step; same parameters and return value as `SGD.update`."""
        w, d_w, learning_rate = _check_update(w, d_w, learning_rate)
        self._check_parameter(w, self.m)
        new_w = self._step(w * (1 - learning_rate * self.weight_decay), d_w, learning_rate)
        self._remember(w, new_w)
        return new_w


class RMSProp(_OneParameter):
    """RMSProp (Tieleman & Hinton, 2012): the step divided by a running root mean square of the gradient.

    `cache = decay * cache + (1 - decay) * d_w**2`, then `w - learning_rate * d_w / (sqrt(cache) + eps)`;
    the cache starts at zeros. This is `torch.optim.RMSprop(alpha=decay)` (momentum 0, not centered), eps in the
    same place: outside the square root.

    One instance per parameter: see the module docstring.

    Parameters
    ----------
    decay : float in [0, 1)
        Decay rate of the running mean of squared gradients (PyTorch's `alpha`).
    eps : float > 0
        Added to the denominator for numerical stability.
    weight_decay : float >= 0
        L2 penalty added to the gradient: `d_w + weight_decay * w` (PyTorch's `weight_decay`).

    Attributes
    ----------
    cache : ndarray shaped like w, or None before the first update
    """

    STATE = ("cache",)

    def __init__(self, decay=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__()
        self.decay = _check_decay(decay, "decay")
        self.eps = check_number(eps, "eps", minimum=0, strict_minimum=True)
        self.weight_decay = _check_weight_decay(weight_decay)
        self.cache = None

    def update(self, w, d_w, learning_rate):
        """One step; same parameters and return value as `SGD.update`."""
        w, d_w, learning_rate = _check_update(w, d_w, learning_rate)
        self._check_parameter(w, self.cache)
        d_w = _decayed_gradient(w, d_w, self.weight_decay)
        self.cache = self.decay * _state_or_zeros(self.cache, w) + (1 - self.decay) * d_w * d_w
        new_w = w - learning_rate * d_w / (np.sqrt(self.cache) + self.eps)
        self._remember(w, new_w)
        return new_w

    def __repr__(self):
        return f"RMSProp(decay={self.decay}, eps={self.eps}, weight_decay={self.weight_decay})"


def _check_update(w, d_w, learning_rate):
    """Validate the arguments of `update`; return them with d_w in the dtype of w and the rate as a float."""
    w = check_float_array(w, "w")
    d_w = check_float_array(d_w, "d_w")
    if d_w.shape != w.shape:
        raise ValueError(f"`d_w` must have the shape of `w` {w.shape}, got {d_w.shape}")
    learning_rate = check_number(learning_rate, "learning_rate", minimum=0)
    return w, d_w.astype(w.dtype, copy=False), learning_rate


def _check_decay(value, name):
    value = check_number(value, name, minimum=0)
    if value >= 1:
        raise ValueError(f"`{name}` must be in [0, 1), got {value}")
    return value


def _check_weight_decay(value):
    return check_number(value, "weight_decay", minimum=0)


def _decayed_gradient(w, d_w, weight_decay):
    """`d_w + weight_decay * w`: PyTorch's weight decay, an L2 penalty's gradient added to the loss's."""
    if weight_decay == 0:
        return d_w  # the exact rule without decay, and no extra pass over w
    return d_w + weight_decay * w


def _state_or_zeros(state, w):
    """The optimizer's state array for `w` in its dtype: zeros on the first update."""
    if state is None:
        return np.zeros_like(w)
    return state.astype(w.dtype, copy=False)


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _check_state_value(value, name, is_count):
    """A state value: an int >= 0 for a count, else None or a finite float ndarray (copied)."""
    if is_count:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise TypeError(f"`{name}` must be a count, an int >= 0, got {value!r}")
        return int(value)
    if value is None:
        return None
    if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
        raise TypeError(f"`{name}` must be None or a float ndarray, got {type(value).__name__}")
    return check_finite(value, name).copy()


def make_optimizer(name, momentum=None, weight_decay=None):
    """The optimizer called `name`, one of OPTIMIZERS.

    Parameters
    ----------
    name : {'sgd', 'momentum', 'nesterov', 'adam', 'adamw', 'rmsprop'}
    momentum : None or float in [0, 1)
        For 'momentum' and 'nesterov' only (None: MOMENTUM, 0.9); the others ignore it.
    weight_decay : None or float >= 0
        PyTorch's meaning: an L2 penalty added to the gradient, or decoupled from it for 'adamw'. None: 0, and
        ADAMW_WEIGHT_DECAY (0.01, PyTorch's default) for 'adamw'.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"`optim` must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    if name == "adamw":
        return AdamW(weight_decay=ADAMW_WEIGHT_DECAY if weight_decay is None else weight_decay)
    weight_decay = 0.0 if weight_decay is None else weight_decay
    if name in ("momentum", "nesterov"):
        return MomentumSGD(MOMENTUM if momentum is None else momentum, nesterov=name == "nesterov",
                           weight_decay=weight_decay)
    return {"sgd": SGD, "adam": Adam, "rmsprop": RMSProp}[name](weight_decay=weight_decay)
