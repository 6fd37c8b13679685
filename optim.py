"""Gradient-descent update rules.

Every optimizer has `update(w, d_w, learning_rate) -> new w`. It returns a new array in the dtype of `w` and never
modifies `w` in place. Optimizers with state (velocity, moment estimates) keep it for one parameter, so each
parameter needs its own instance: `Trainer` deep-copies the optimizer it is given once per parameter. Using one
instance for parameters of different shapes raises a `ValueError`.
"""
import numpy as np

from validation import check_float_array, check_number


class SGD:
    """Plain stochastic gradient descent: `w - learning_rate * d_w`."""

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
        return w - learning_rate * d_w

    def __repr__(self):
        return "SGD()"


class MomentumSGD:
    """SGD with momentum (heavy ball), optionally Nesterov's variant.

    `v = momentum * v - learning_rate * d_w`, then `w + v`, or `w + momentum * v - learning_rate * d_w` with
    `nesterov=True` (the gradient step taken from the look-ahead point, in the form of Sutskever et al. 2013).
    The velocity `v` starts at zeros.

    Parameters
    ----------
    momentum : float in [0, 1)
        Fraction of the velocity kept from one step to the next; 0 is plain SGD.
    nesterov : bool

    Attributes
    ----------
    velocity : ndarray shaped like w, or None before the first update
    """

    def __init__(self, momentum=0.9, nesterov=False):
        self.momentum = _check_decay(momentum, "momentum")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"`nesterov` must be True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)
        self.velocity = None

    def update(self, w, d_w, learning_rate):
        """One step; same parameters and return value as `SGD.update`."""
        w, d_w, learning_rate = _check_update(w, d_w, learning_rate)
        velocity = _state_for(self.velocity, w, type(self).__name__)
        self.velocity = self.momentum * velocity - learning_rate * d_w
        if self.nesterov:
            return w + self.momentum * self.velocity - learning_rate * d_w
        return w + self.velocity

    def __repr__(self):
        return f"MomentumSGD(momentum={self.momentum}, nesterov={self.nesterov})"


class Adam:
    """Adam (Kingma & Ba, 2015) with bias-corrected moment estimates.

    At step t (1, 2, ...): `m = beta1 * m + (1 - beta1) * d_w`, `v = beta2 * v + (1 - beta2) * d_w**2`,
    `w - learning_rate * m_hat / (sqrt(v_hat) + eps)` with `m_hat = m / (1 - beta1**t)` and
    `v_hat = v / (1 - beta2**t)`.

    Parameters
    ----------
    beta1, beta2 : float in [0, 1)
        Decay rates of the first and second moment estimates.
    eps : float > 0
        Added to the denominator for numerical stability.

    Attributes
    ----------
    m, v : ndarray shaped like w, or None before the first update
    t : int, the number of updates made
    """

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1 = _check_decay(beta1, "beta1")
        self.beta2 = _check_decay(beta2, "beta2")
        self.eps = check_number(eps, "eps", minimum=0, strict_minimum=True)
        self.m = None
        self.v = None
        self.t = 0

    def update(self, w, d_w, learning_rate):
        """One step; same parameters and return value as `SGD.update`."""
        w, d_w, learning_rate = _check_update(w, d_w, learning_rate)
        m = _state_for(self.m, w, type(self).__name__)
        v = _state_for(self.v, w, type(self).__name__)
        self.t += 1
        self.m = self.beta1 * m + (1 - self.beta1) * d_w
        self.v = self.beta2 * v + (1 - self.beta2) * d_w * d_w
        m_hat = self.m / (1 - self.beta1 ** self.t)
        v_hat = self.v / (1 - self.beta2 ** self.t)
        return w - learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)

    def __repr__(self):
        return f"Adam(beta1={self.beta1}, beta2={self.beta2}, eps={self.eps})"


class RMSProp:
    """RMSProp (Tieleman & Hinton, 2012): the step divided by a running root mean square of the gradient.

    `cache = decay * cache + (1 - decay) * d_w**2`, then `w - learning_rate * d_w / (sqrt(cache) + eps)`;
    the cache starts at zeros.

    Parameters
    ----------
    decay : float in [0, 1)
        Decay rate of the running mean of squared gradients.
    eps : float > 0
        Added to the denominator for numerical stability.

    Attributes
    ----------
    cache : ndarray shaped like w, or None before the first update
    """

    def __init__(self, decay=0.99, eps=1e-8):
        self.decay = _check_decay(decay, "decay")
        self.eps = check_number(eps, "eps", minimum=0, strict_minimum=True)
        self.cache = None

    def update(self, w, d_w, learning_rate):
        """One step; same parameters and return value as `SGD.update`."""
        w, d_w, learning_rate = _check_update(w, d_w, learning_rate)
        cache = _state_for(self.cache, w, type(self).__name__)
        self.cache = self.decay * cache + (1 - self.decay) * d_w * d_w
        return w - learning_rate * d_w / (np.sqrt(self.cache) + self.eps)

    def __repr__(self):
        return f"RMSProp(decay={self.decay}, eps={self.eps})"


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


def _state_for(state, w, optimizer_name):
    """The optimizer's state array for `w`: zeros on the first update, else `state` (shape checked)."""
    if state is None:
        return np.zeros_like(w)
    if state.shape != w.shape:
        raise ValueError(f"this {optimizer_name} holds state for a parameter of shape {state.shape} and was given "
                         f"one of shape {w.shape}: use one optimizer per parameter (copy.deepcopy it)")
    return state.astype(w.dtype, copy=False)
