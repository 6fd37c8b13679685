"""gradient_check.py: it must pass right gradients, catch wrong ones (and say where), and leave everything as it was."""
import re

import numpy as np
import pytest

from gradient_check import check_gradient, check_layer_gradient, check_layer_param_gradient, check_model_gradient
from layers import ConvolutionalLayer, FullyConnectedLayer, MaxPoolingLayer, ReLULayer
from model import ConvNet

SCALES = [1e-12, 1e-8, 1e-4, 1.0, 1e4, 1e8, 1e12]
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def smooth_function(scale, error=None):
    """f(x) = scale * sum(exp(a * x) + b * x**2) with its gradient; `error(grad)` corrupts the returned gradient."""
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 1.5, size=(3, 4)), rng.uniform(-1, 1, size=(3, 4))

    def f(x):
        grad = scale * (a * np.exp(a * x) + 2 * b * x)
        return scale * float(np.sum(np.exp(a * x) + b * x * x)), grad if error is None else error(grad)
    return f


def true_gradient(scale, x):
    return smooth_function(scale)(x)[1]


def point():
    return np.random.default_rng(1).uniform(-1, 1, size=(3, 4))


def bump(index, factor):
    """A corruption that multiplies the gradient at `index` by `factor`."""
    def error(grad):
        grad = grad.copy()
        grad[index] *= factor
        return grad
    return error


def assert_reports_mismatch(output, index, analytic, numeric):
    """The printed report names `index` and both values (parsed as numbers, whatever the formatting)."""
    numbers = [float(text) for text in NUMBER.findall(output)]
    assert any(numbers[i:i + len(index)] == list(index) for i in range(len(numbers))), output
    assert any(number == pytest.approx(analytic, rel=1e-6) for number in numbers), output
    assert any(number == pytest.approx(numeric, rel=1e-6) for number in numbers), output


def assert_same_params(params, saved):
    for name, param in params.items():
        np.testing.assert_array_equal(param.value, saved[name][0], strict=True)
        np.testing.assert_array_equal(param.grad, saved[name][1], strict=True)


def save_params(params, rng):
    """Give every grad a distinctive non-zero content and return copies of (value, grad) per name."""
    for param in params.values():
        param.grad = rng.standard_normal(param.value.shape).astype(param.value.dtype)
    return {name: (param.value.copy(), param.grad.copy()) for name, param in params.items()}


# ---------------------------------------------------------------------------------------------- check_gradient

@pytest.mark.parametrize("scale", SCALES)
def test_passes_a_right_gradient(scale):
    assert check_gradient(smooth_function(scale), point()) is True


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("index, factor", [((1, 2), 1.1), ((0, 0), -1.0), ((2, 3), 0.0)],
                         ids=["10%-off", "sign-flipped", "zeroed"])
def test_catches_a_wrong_gradient_and_reports_it(scale, index, factor, capsys):
    """One element wrong, at any magnitude of the function and its gradient: False, and the report names the index
    and both values."""
    x = point()
    assert check_gradient(smooth_function(scale, bump(index, factor)), x) is False
    right = true_gradient(scale, x)[index]
    assert_reports_mismatch(capsys.readouterr().out, index, right * factor, right)


@pytest.mark.parametrize("scale", SCALES)
def test_catches_a_gradient_wrong_everywhere_by_10_percent(scale):
    assert check_gradient(smooth_function(scale, lambda grad: 1.1 * grad), point()) is False


@pytest.mark.parametrize("error", [None, bump((1, 1), 2.0)], ids=["right", "wrong"])
def test_leaves_x_exactly_as_it_was(error):
    x = point()
    before = x.copy()
    check_gradient(smooth_function(1.0, error), x)
    np.testing.assert_array_equal(x, before, strict=True)


def test_leaves_x_as_it_was_when_f_raises():
    x, calls = point(), []
    before = x.copy()

    def failing(x):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("f failed")
        return smooth_function(1.0)(x)

    with pytest.raises(RuntimeError, match="f failed"):
        check_gradient(failing, x)
    np.testing.assert_array_equal(x, before, strict=True)


# --------------------------------------------------------------------------------- layer and model checks

class OffByTenPercentReLU(ReLULayer):
    def backward(self, d_out):
        return 1.1 * super().backward(d_out)


class OneWrongWeightFC(FullyConnectedLayer):
    """W.grad[1, 0] is twice what it should be; B and the input gradient are right."""
    def backward(self, d_out):
        before = self.W.grad[1, 0]
        d_input = super().backward(d_out)
        self.W.grad[1, 0] += self.W.grad[1, 0] - before
        return d_input


class WrongBiasConvNet(ConvNet):
    def compute_loss_and_gradients(self, X, y):
        loss = super().compute_loss_and_gradients(X, y)
        self.params()["conv2_B"].grad[0] *= 1.5
        return loss


def fc_layer(cls=FullyConnectedLayer):
    return cls(4, 3, seed=0), np.random.default_rng(2).standard_normal((2, 4))


def model_batch():
    rng = np.random.default_rng(3)
    return rng.uniform(-0.5, 0.5, size=(2, 16, 16, 3)), np.array([3, 7])


@pytest.mark.parametrize("check, expected", [
    (lambda: check_layer_gradient(OffByTenPercentReLU(), point()[None, :, :, None] + 0.05), False),
    (lambda: check_layer_gradient(ReLULayer(), point()[None, :, :, None] + 0.05), True),
    (lambda: check_layer_gradient(*fc_layer(OneWrongWeightFC)), True),
    (lambda: check_layer_param_gradient(*fc_layer(OneWrongWeightFC), "W"), False),
    (lambda: check_layer_param_gradient(*fc_layer(OneWrongWeightFC), "B"), True),
    (lambda: check_layer_param_gradient(*fc_layer(), "W"), True),
    (lambda: check_model_gradient(WrongBiasConvNet((16, 16, 3), 10, 2, 2, seed=0), *model_batch()), False),
    (lambda: check_model_gradient(ConvNet((16, 16, 3), 10, 2, 2, seed=0), *model_batch()), True),
], ids=["relu-wrong", "relu-right", "fc-input-right", "fc-W-wrong", "fc-B-right", "fc-W-right", "model-wrong",
        "model-right"])
def test_layer_and_model_checks_verdicts(check, expected):
    assert check() is expected


def test_model_check_names_the_wrong_parameter(capsys):
    X, y = model_batch()
    right_model = ConvNet((16, 16, 3), 10, 2, 2, seed=0)
    right_model.compute_loss_and_gradients(X, y)
    right = right_model.params()["conv2_B"].grad[0]
    assert check_model_gradient(WrongBiasConvNet((16, 16, 3), 10, 2, 2, seed=0), X, y) is False
    output = capsys.readouterr().out
    assert "conv2_B" in output
    assert_reports_mismatch(output.split("conv2_B", 1)[1], (0,), 1.5 * right, right)


@pytest.mark.parametrize("make_layer, X", [
    (lambda: ConvolutionalLayer(2, 3, 3, 1, seed=0), np.random.default_rng(4).standard_normal((2, 4, 5, 2))),
    (lambda: ConvolutionalLayer(1, 2, 2, 0, stride=2, seed=0), np.random.default_rng(4).standard_normal((1, 5, 5, 1))),
    (lambda: FullyConnectedLayer(4, 3, seed=0), np.random.default_rng(4).standard_normal((3, 4))),
    (lambda: OneWrongWeightFC(4, 3, seed=0), np.random.default_rng(4).standard_normal((3, 4))),
    (lambda: MaxPoolingLayer(2, 1), np.random.default_rng(4).standard_normal((1, 4, 4, 2))),
], ids=["conv", "conv-strided", "fc", "fc-wrong", "pool"])
@pytest.mark.parametrize("which", ["input", "W", "B"])
def test_layer_checks_leave_input_and_params_as_they_were(make_layer, X, which, rng):
    layer = make_layer()
    params = layer.params()
    if which != "input" and which not in params:
        pytest.skip("the layer has no parameters")
    saved = save_params(params, rng)
    X_before = X.copy()
    if which == "input":
        check_layer_gradient(layer, X)
    else:
        check_layer_param_gradient(layer, X, which)
    np.testing.assert_array_equal(X, X_before, strict=True)
    assert_same_params(layer.params(), saved)


@pytest.mark.parametrize("model_class", [ConvNet, WrongBiasConvNet])
def test_model_check_leaves_X_and_params_as_they_were(model_class, rng):
    model = model_class((16, 16, 3), 10, 2, 2, seed=0)
    X, y = model_batch()
    X_before, y_before = X.copy(), y.copy()
    saved = save_params(model.params(), rng)
    check_model_gradient(model, X, y)
    np.testing.assert_array_equal(X, X_before, strict=True)
    np.testing.assert_array_equal(y, y_before, strict=True)
    assert_same_params(model.params(), saved)


# ------------------------------------------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("check, x, name", [
    (lambda x: check_gradient(smooth_function(1.0), x), point(), "x"),
    (lambda x: check_layer_gradient(ReLULayer(), x), point(), "x"),
    (lambda x: check_layer_param_gradient(fc_layer()[0], x, "W"), fc_layer()[1], "x"),
    (lambda X: check_model_gradient(ConvNet((16, 16, 3), 10, 2, 2, seed=0), X, model_batch()[1]), model_batch()[0],
     "X"),
], ids=["function", "layer", "layer-param", "model"])
@pytest.mark.parametrize("dtype", [np.float16, np.int64, np.complex128])
def test_only_float32_and_float64_points_are_checked(check, x, name, dtype):
    """As everywhere in the package, float16 is refused like integers, with the same message (issue 9, item 12)."""
    with pytest.raises(TypeError, match=rf"`{name}` must be an array of floats \(float32 or float64\), "
                                        rf"got dtype {np.dtype(dtype)}"):
        check(x.astype(dtype))


@pytest.mark.parametrize("check", [
    lambda layer, x, **steps: check_layer_gradient(layer, x, **steps),
    lambda layer, x, **steps: check_layer_param_gradient(layer, x, "W", **steps),
], ids=["input", "param"])
@pytest.mark.parametrize("steps, error, match", [
    (dict(delta=0), ValueError, r"`delta` must be a finite number > 0, got 0\.0"),
    (dict(tol=-1e-4), ValueError, r"`tol` must be a finite number > 0, got -0\.0001"),
    (dict(delta="1e-5"), TypeError, r"`delta` must be a real number"),
])
def test_bad_steps_are_refused_before_the_layer_runs(check, steps, error, match):
    layer, x = fc_layer()
    with pytest.raises(error, match=match):
        check(layer, x, **steps)
    with pytest.raises(ValueError, match=r"backward\(\) was called before forward\(\)"):
        layer.backward(np.ones((2, 3)))


@pytest.mark.parametrize("steps, error, match", [
    (dict(delta=0), ValueError, r"`delta` must be a finite number > 0"),
    (dict(tol=float("nan")), ValueError, r"`tol` must be a finite number > 0, got nan"),
])
def test_bad_steps_are_refused_before_the_model_runs(steps, error, match, capsys):
    model = ConvNet((16, 16, 3), 10, 2, 2, seed=0)
    with pytest.raises(error, match=match):
        check_model_gradient(model, *model_batch(), **steps)
    assert capsys.readouterr().out == ""
    assert all(not param.grad.any() for param in model.params().values())
