"""Checks of the learner's gradient_check.py.

The learner's checkers are given correct gradients (they must say True) and gradients with one wrong entry, the last
one (they must say False), of a quadratic function, a tiny tanh layer and a tiny linear model written here; each
layer and model is fresh, its gradients zero, for each call. numpy's global random state is put back after each
call.
"""
import numpy as np

from selfcheck.base import CheckFailed, Info, check
from selfcheck.tools import global_rng_kept, short


@check("check_gradient.call.correct_gradient", needs=("gradient_check.check_gradient",),
       description="True for f(x) = sum(x ** 2) with its gradient 2 x, x float64 of shapes (3,) and (2, 3)")
def _gradient_correct(modules):
    for shape in ((3,), (2, 3)):
        x = _point(shape)
        with global_rng_kept():
            result = modules.gradient_check.check_gradient(_square_sum, x)
        _expect_bool(result, True, "check_gradient", f"f(x) = sum(x ** 2), gradient 2 x, x of shape {shape} float64")


@check("check_gradient.call.wrong_gradient", needs=("gradient_check.check_gradient",),
       description="False for f(x) = sum(x ** 2) with a gradient 2 x whose last entry is 1 too large")
def _gradient_wrong(modules):
    for shape in ((3,), (2, 3)):
        x = _point(shape)
        with global_rng_kept():
            result = modules.gradient_check.check_gradient(_square_sum_wrong, x)
        _expect_bool(result, False, "check_gradient", f"f(x) = sum(x ** 2), gradient 2 x but its last entry 1 too "
                                                      f"large, x of shape {shape} float64")


@check("check_gradient.call.small_error", needs=("gradient_check.check_gradient",),
       description="False for f(x) = sum(x ** 2) with a gradient 2 x whose last entry is 0.5% too large (the default "
                   "tolerance, 1e-4, catches it)")
def _gradient_small_error(modules):
    x = _point((2, 3))
    with global_rng_kept():
        result = modules.gradient_check.check_gradient(_square_sum_slightly_wrong, x)
    _expect_bool(result, False, "check_gradient", "f(x) = sum(x ** 2), gradient 2 x but its last entry 0.5% too large, "
                 "x of shape (2, 3) float64", _TOLERANCE_ADVICE)


_TOLERANCE_ADVICE = ("a gradient 0.5% off must be caught: keep the template's defaults, delta=1e-5 and tol=1e-4 (a "
                     "relative tolerance)")


@check("check_gradient.call.x_unchanged", needs=("gradient_check.check_gradient",),
       description="x holds the same values after the check as before")
def _gradient_x_unchanged(modules):
    x = _point((2, 3))
    original = x.copy()
    with global_rng_kept():
        modules.gradient_check.check_gradient(_square_sum, x)
    if np.array_equal(x, original):
        return None
    case = "f(x) = sum(x ** 2), x of shape (2, 3) float64"
    if np.allclose(x, original, rtol=1e-12, atol=0):
        return Info(f"x changed by rounding only (largest change {np.abs(x - original).max():.2g}): restore the "
                    f"saved value instead of adding and subtracting delta (input: {case})")
    raise CheckFailed(f"check_gradient changed x: {int(np.count_nonzero(x != original))} of {x.size} values "
                      f"differ afterwards (input: {case})")


@check("check_layer_gradient.call.correct_gradient", needs=("gradient_check.check_layer_gradient",),
       description="True for a tanh layer whose backward is right")
def _layer_correct(modules):
    with global_rng_kept():
        result = modules.gradient_check.check_layer_gradient(_TanhLayer(), _point((2, 3)))
    _expect_bool(result, True, "check_layer_gradient", _TanhLayer.case("a correct backward"))


@check("check_layer_gradient.call.wrong_gradient", needs=("gradient_check.check_layer_gradient",),
       description="False for a tanh layer whose input gradient is wrong in its last entry")
def _layer_wrong(modules):
    with global_rng_kept():
        result = modules.gradient_check.check_layer_gradient(_TanhLayer(wrong="input"), _point((2, 3)))
    _expect_bool(result, False, "check_layer_gradient",
                 _TanhLayer.case("a backward whose input gradient is 0.5 off in its last entry"))


@check("check_layer_param_gradient.call.correct_gradient", needs=("gradient_check.check_layer_param_gradient",),
       description="True for W and for B of a tanh layer whose backward is right")
def _param_correct(modules):
    for name in ("W", "B"):
        with global_rng_kept():
            result = modules.gradient_check.check_layer_param_gradient(_TanhLayer(), _point((2, 3)), name)
        _expect_bool(result, True, f"check_layer_param_gradient(..., '{name}')",
                     _TanhLayer.case("a correct backward"))


@check("check_layer_param_gradient.call.wrong_gradient", needs=("gradient_check.check_layer_param_gradient",),
       description="False for W of a tanh layer whose W.grad is wrong in its last entry")
def _param_wrong(modules):
    with global_rng_kept():
        result = modules.gradient_check.check_layer_param_gradient(_TanhLayer(wrong="W"), _point((2, 3)), "W")
    _expect_bool(result, False, "check_layer_param_gradient(..., 'W')",
                 _TanhLayer.case("a backward that adds to W.grad 0.5 too much in its last entry"))


@check("check_layer_gradient.call.output_weights", needs=("gradient_check.check_layer_gradient",),
       description="False for a tanh layer whose backward ignores the values of d_out (uses ones): the outputs must "
                   "be weighed by random numbers, as the template does")
def _layer_output_weights(modules):
    with global_rng_kept():
        result = modules.gradient_check.check_layer_gradient(_TanhLayer(wrong="d_out"), _point((2, 3)))
    _expect_bool(result, False, "check_layer_gradient", _TanhLayer.case(_IGNORES_D_OUT), _WEIGHTS_ADVICE)


@check("check_layer_param_gradient.call.output_weights", needs=("gradient_check.check_layer_param_gradient",),
       description="False for W of a tanh layer whose backward ignores the values of d_out (uses ones)")
def _param_output_weights(modules):
    with global_rng_kept():
        result = modules.gradient_check.check_layer_param_gradient(_TanhLayer(wrong="d_out"), _point((2, 3)), "W")
    _expect_bool(result, False, "check_layer_param_gradient(..., 'W')", _TanhLayer.case(_IGNORES_D_OUT),
                 _WEIGHTS_ADVICE)


_IGNORES_D_OUT = "a backward that ignores the values of d_out, as if it were all ones"
_WEIGHTS_ADVICE = ("a loss that sums the outputs gives d_out of ones, which such a backward gets right: weigh the "
                   "outputs with random numbers, loss = sum(output * output_weight), as the template does")


@check("check_model_gradient.call.small_error", needs=("gradient_check.check_model_gradient",),
       description="False for a linear model whose largest W.grad entry is 0.5% too large (the default tolerance, "
                   "1e-4, catches it)")
def _model_small_error(modules):
    with global_rng_kept():
        result = modules.gradient_check.check_model_gradient(_LinearModel(wrong="small"), _point((2, 4)),
                                                             np.array([0, 2]))
    _expect_bool(result, False, "check_model_gradient", _LinearModel.case("the largest entry of W.grad 0.5% too large"),
                 _TOLERANCE_ADVICE)


@check("check_model_gradient.call.correct_gradient", needs=("gradient_check.check_model_gradient",),
       description="True for a linear model with a squared-error loss whose gradients are right")
def _model_correct(modules):
    with global_rng_kept():
        result = modules.gradient_check.check_model_gradient(_LinearModel(), _point((2, 4)), np.array([0, 2]))
    _expect_bool(result, True, "check_model_gradient", _LinearModel.case("correct gradients"))


@check("check_model_gradient.call.wrong_gradient", needs=("gradient_check.check_model_gradient",),
       description="False for a linear model whose last parameter's gradient is wrong in its last entry")
def _model_wrong(modules):
    with global_rng_kept():
        result = modules.gradient_check.check_model_gradient(_LinearModel(wrong=True), _point((2, 4)),
                                                             np.array([0, 2]))
    _expect_bool(result, False, "check_model_gradient",
                 _LinearModel.case("B.grad 0.5 off in its last entry (B is the last of params())"))


def _point(shape):
    """A float64 point of `shape` with entries of magnitude 0.3..1.2, away from 0."""
    rng = np.random.default_rng(len(shape) * 10 + shape[-1])
    return rng.uniform(0.3, 1.2, shape) * rng.choice([-1.0, 1.0], shape)


def _square_sum(x):
    """(sum(x ** 2), 2 x): the value a numpy scalar, as real losses are (some checkers index it and catch the
    IndexError of a scalar)."""
    return np.float64(np.sum(x ** 2)), 2 * x


def _square_sum_slightly_wrong(x):
    grad = 2 * x
    grad.flat[-1] *= 1.005
    return np.float64(np.sum(x ** 2)), grad


def _square_sum_wrong(x):
    grad = 2 * x
    grad.flat[-1] += 1.0
    return np.float64(np.sum(x ** 2)), grad


def _expect_bool(result, expected, what, case, advice="it must compare every entry"):
    """CheckFailed unless `result` is the bool `expected`; `advice` says what to do about a True on a wrong one."""
    if not isinstance(result, (bool, np.bool_)):
        raise CheckFailed(f"{what} must return True or False, got {short(result)} (input: {case})")
    if bool(result) != expected:
        verdict = f"a wrong gradient: {advice}" if expected is False else "a correct gradient"
        raise CheckFailed(f"{what} returned {bool(result)} on {verdict} (input: {case})")


class _Param:
    """What the contract promises of a parameter: `value` and `grad` of its shape."""

    def __init__(self, value):
        self.value = value
        self.grad = np.zeros_like(value)


class _TanhLayer:
    """out = tanh(X @ W + B) for X of shape (batch, 3), W (3, 2), B (1, 2); backward adds into W.grad and B.grad.

    `wrong`: None, "input" (the returned input gradient) or "W" (what is added to W.grad) is 0.5 too large in its
    last entry; "d_out": backward takes d_out as all ones, whatever its values.
    """

    def __init__(self, wrong=None):
        rng = np.random.default_rng(3)
        self.W = _Param(rng.normal(0, 0.7, (3, 2)))
        self.B = _Param(rng.normal(0, 0.7, (1, 2)))
        self.wrong = wrong

    @staticmethod
    def case(what):
        return f"a layer tanh(X @ W + B) with {what}, X of shape (2, 3) float64, W (3, 2), B (1, 2)"

    def forward(self, X):
        self.X = np.array(X, dtype=np.float64)
        self.out = np.tanh(self.X @ self.W.value + self.B.value)
        return self.out

    def backward(self, d_out):
        if self.wrong == "d_out":
            d_out = np.ones_like(d_out)
        d_z = d_out * (1 - self.out ** 2)
        d_W = self.X.T @ d_z
        if self.wrong == "W":
            d_W[-1, -1] += 0.5
        self.W.grad += d_W
        self.B.grad += d_z.sum(axis=0, keepdims=True)
        d_X = d_z @ self.W.value.T
        if self.wrong == "input":
            d_X[-1, -1] += 0.5
        return d_X

    def params(self):
        return {"W": self.W, "B": self.B}


class _LinearModel:
    """scores = X @ W + B for X (batch, 4), W (4, 3), B (1, 3); loss 0.5 * sum((scores - onehot(y)) ** 2) / batch.

    `wrong`: True, B.grad, the last parameter of params(), is 0.5 too large in its last entry; "small", the largest
    entry of W.grad is 0.5% too large.
    """

    def __init__(self, wrong=False):
        rng = np.random.default_rng(4)
        self.W = _Param(rng.normal(0, 0.5, (4, 3)))
        self.B = _Param(rng.normal(0, 0.5, (1, 3)))
        self.wrong = wrong

    @staticmethod
    def case(what):
        return (f"a model scores = X @ W + B, loss 0.5 * mean squared distance to one-hot y, with {what}, "
                f"X of shape (2, 4) float64, y [0, 2]")

    def params(self):
        return {"W": self.W, "B": self.B}

    def compute_loss_and_gradients(self, X, y):
        for param in self.params().values():
            param.grad = np.zeros_like(param.value)
        diff = X @ self.W.value + self.B.value - np.eye(3)[y]
        self.W.grad += X.T @ diff / len(X)
        self.B.grad += diff.sum(axis=0, keepdims=True) / len(X)
        if self.wrong == "small":
            self.W.grad.flat[np.argmax(np.abs(self.W.grad))] *= 1.005
        elif self.wrong:
            self.B.grad[-1, -1] += 0.5
        return np.float64(0.5 * np.sum(diff ** 2) / len(X))

    def predict(self, X):
        return np.argmax(X @ self.W.value + self.B.value, axis=1)
