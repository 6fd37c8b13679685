"""normalization.py: BatchNormalization and Dropout against plain-loop oracles and numeric gradients.

The oracles below walk one feature at a time in float64 with `math.fsum`, sharing nothing with the package; the
backward oracle is the textbook chain rule through mean and variance, step by step (not the fused expression the
layer uses). Numeric gradients come from gradient_check (float64): its functions call `forward` for every
perturbation, so in training the batch statistics are recomputed inside the numeric function, as they must be.
"""
import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from gradient_check import check_gradient, check_layer_gradient, check_layer_param_gradient
from normalization import BatchNormalization, Dropout

DTYPES = [np.float32, np.float64]
# (shape, n_features): 2-D and 4-D, odd and non-square, batch 1 where it leaves more than one value per feature.
BN_SHAPES = [(2, 3), (5, 1), (7, 4), (1, 3, 2, 2), (2, 3, 5, 3), (3, 4, 1, 2), (2, 1, 1, 5)]
# Shapes with a single value per feature: refused in training, fine in evaluation.
SINGLE_VALUE_SHAPES = [(1, 3), (1, 1, 1, 4)]
BN_ARGUMENTS = [dict(), dict(momentum=0.3, eps=1e-3), dict(momentum=1.0, eps=0.5), dict(momentum=0.0)]
FORWARD_TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


# ---------------------------------------------------------------------------------------------------------- oracles

def features(X):
    """The values of each feature of X (..., n_features) as Python lists of floats."""
    X = np.asarray(X, dtype=np.float64)
    return [[float(value) for value in X[..., c].ravel()] for c in range(X.shape[-1])]


def batch_statistics(X):
    """Per-feature mean, biased and unbiased variance, one feature at a time."""
    means, biased, unbiased = [], [], []
    for values in features(X):
        n = len(values)
        mean = math.fsum(values) / n
        squares = math.fsum((value - mean) ** 2 for value in values)
        means.append(mean)
        biased.append(squares / n)
        unbiased.append(squares / (n - 1) if n > 1 else math.nan)
    return np.array(means), np.array(biased), np.array(unbiased)


def batch_norm_forward(X, gamma, beta, mean, var, eps):
    """gamma * (x - mean) / sqrt(var + eps) + beta, element by element."""
    X = np.asarray(X, dtype=np.float64)
    out = np.zeros(X.shape)
    for index in np.ndindex(X.shape):
        c = index[-1]
        out[index] = gamma[c] * (X[index] - mean[c]) / math.sqrt(var[c] + eps) + beta[c]
    return out


def batch_norm_backward_training(X, gamma, d_out, eps):
    """d_X, d_gamma, d_beta of batch norm with batch statistics: chain rule through var and mean, per feature."""
    X, d_out = np.asarray(X, dtype=np.float64), np.asarray(d_out, dtype=np.float64)
    d_X, d_gamma, d_beta = np.zeros(X.shape), np.zeros(X.shape[-1]), np.zeros(X.shape[-1])
    for c, (x, dy) in enumerate(zip(features(X), features(d_out))):
        n = len(x)
        mean = math.fsum(x) / n
        var = math.fsum((v - mean) ** 2 for v in x) / n
        std = math.sqrt(var + eps)
        xhat = [(v - mean) / std for v in x]
        d_gamma[c] = math.fsum(g * h for g, h in zip(dy, xhat))
        d_beta[c] = math.fsum(dy)
        d_xhat = [g * gamma[c] for g in dy]
        d_var = math.fsum(d * (v - mean) for d, v in zip(d_xhat, x)) * -0.5 * (var + eps) ** -1.5
        d_mean = -math.fsum(d_xhat) / std + d_var * math.fsum(-2 * (v - mean) for v in x) / n
        grads = [d / std + d_var * 2 * (v - mean) / n + d_mean / n for d, v in zip(d_xhat, x)]
        d_X[..., c] = np.array(grads).reshape(X.shape[:-1])
    return d_X, d_gamma, d_beta


# ---------------------------------------------------------------------------------------------------------- helpers

def make_bn(n_features, dtype=np.float64, seed=0, **arguments):
    """A BatchNormalization with random gamma, beta and running statistics (so that none of them is trivial)."""
    rng = np.random.default_rng(seed)
    layer = BatchNormalization(n_features, dtype=dtype, **arguments)
    layer.gamma.value = rng.uniform(0.5, 2.0, n_features).astype(dtype)
    layer.beta.value = rng.standard_normal(n_features).astype(dtype)
    layer.running_mean[...] = rng.standard_normal(n_features)
    layer.running_var[...] = rng.uniform(0.5, 2.0, n_features)
    return layer


def random_input(shape, dtype=np.float64, seed=1):
    """Features with different means and spreads."""
    rng = np.random.default_rng(seed)
    spread = rng.uniform(0.5, 3.0, shape[-1])
    offset = rng.uniform(-2.0, 2.0, shape[-1])
    return (rng.standard_normal(shape) * spread + offset).astype(dtype)


# ---------------------------------------------------------------------------------------------- BatchNormalization

@pytest.mark.parametrize("first", ["normalization", "layers"])
def test_both_modules_import_first_in_a_fresh_interpreter(first):
    """layers.py re-exports these classes from normalization.py, which must not import layers.py back."""
    code = (f"import {first}\nimport layers, normalization, param\n"
            "assert layers.BatchNormalization is normalization.BatchNormalization\n"
            "assert layers.Dropout is normalization.Dropout and layers.Param is param.Param\n")
    root = pathlib.Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_bn_starts_as_documented():
    layer = BatchNormalization(3)
    assert layer.training is True
    assert set(layer.params()) == {"gamma", "beta"}
    np.testing.assert_array_equal(layer.gamma.value, np.ones(3))
    np.testing.assert_array_equal(layer.beta.value, np.zeros(3))
    buffers = layer.buffers()
    assert set(buffers) == {"running_mean", "running_var"}
    assert buffers["running_mean"] is layer.running_mean and buffers["running_var"] is layer.running_var
    np.testing.assert_array_equal(layer.running_mean, np.zeros(3))
    np.testing.assert_array_equal(layer.running_var, np.ones(3))
    assert all(array.dtype == np.float64 for array in (layer.gamma.value, layer.beta.value, *buffers.values()))


@pytest.mark.parametrize("arguments", BN_ARGUMENTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_bn_training_forward_matches_oracle(shape, dtype, arguments):
    layer = make_bn(shape[-1], dtype, **arguments)
    X = random_input(shape, dtype)
    mean, var, _ = batch_statistics(X)
    expected = batch_norm_forward(X, layer.gamma.value, layer.beta.value, mean, var, layer.eps)
    out = layer.forward(X)
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_allclose(out, expected, **FORWARD_TOLERANCE[dtype])


@pytest.mark.parametrize("arguments", BN_ARGUMENTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES + SINGLE_VALUE_SHAPES)
def test_bn_evaluation_forward_uses_running_statistics(shape, dtype, arguments):
    layer = make_bn(shape[-1], dtype, **arguments)
    layer.training = False
    running_mean, running_var = layer.running_mean.copy(), layer.running_var.copy()
    X = random_input(shape, dtype)
    expected = batch_norm_forward(X, layer.gamma.value, layer.beta.value, running_mean, running_var, layer.eps)
    out = layer.forward(X)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, **FORWARD_TOLERANCE[dtype])
    np.testing.assert_array_equal(layer.running_mean, running_mean)  # evaluation leaves them alone
    np.testing.assert_array_equal(layer.running_var, running_var)


@pytest.mark.parametrize("arguments", BN_ARGUMENTS)
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 3), (1, 2, 1, 2)])
def test_bn_running_statistics_follow_pytorch_rule_over_steps(shape, arguments):
    """running = (1 - momentum) * running + momentum * stat, unbiased variance, step after step, in place."""
    layer = make_bn(shape[-1], **arguments)
    running_mean, running_var = layer.running_mean, layer.running_var
    expected_mean, expected_var = running_mean.copy(), running_var.copy()
    for step in range(4):
        X = random_input(shape, seed=10 + step)
        mean, _, unbiased = batch_statistics(X)
        expected_mean = (1 - layer.momentum) * expected_mean + layer.momentum * mean
        expected_var = (1 - layer.momentum) * expected_var + layer.momentum * unbiased
        layer.forward(X)
        np.testing.assert_allclose(layer.running_mean, expected_mean, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(layer.running_var, expected_var, rtol=1e-12, atol=1e-14)
    assert layer.running_mean is running_mean and layer.running_var is running_var


@pytest.mark.parametrize("wrt", ["X", "gamma", "beta"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
@pytest.mark.parametrize("arguments", BN_ARGUMENTS[:2])
@pytest.mark.parametrize("shape", BN_SHAPES + SINGLE_VALUE_SHAPES)
def test_bn_backward_matches_numeric_gradient(shape, arguments, training, wrt):
    if training and shape in SINGLE_VALUE_SHAPES:
        pytest.skip("a single value per feature is refused in training")
    layer = make_bn(shape[-1], **arguments)
    layer.training = training
    X = random_input(shape)
    assert check_layer_gradient(layer, X) if wrt == "X" else check_layer_param_gradient(layer, X, wrt)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_bn_training_backward_matches_chain_rule_oracle(shape, dtype):
    """The fused expression against the step-by-step chain rule, in both dtypes; gradients add into Param.grad."""
    layer = make_bn(shape[-1], dtype)
    X = random_input(shape, dtype)
    d_out = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    layer.gamma.grad += 1  # backward adds to what is there
    layer.forward(X)
    d_X = layer.backward(d_out)
    expected_X, expected_gamma, expected_beta = batch_norm_backward_training(X, layer.gamma.value, d_out, layer.eps)
    tolerance = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)
    assert d_X.dtype == layer.gamma.grad.dtype == layer.beta.grad.dtype == dtype
    np.testing.assert_allclose(d_X, expected_X, **tolerance)
    np.testing.assert_allclose(layer.gamma.grad, expected_gamma + 1, **tolerance)
    np.testing.assert_allclose(layer.beta.grad, expected_beta, **tolerance)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bn_evaluation_backward_is_the_affine_gradient(dtype):
    layer = make_bn(3, dtype)
    layer.training = False
    X = random_input((4, 2, 3, 3), dtype)
    d_out = np.random.default_rng(2).standard_normal(X.shape).astype(dtype)
    layer.forward(X)
    d_X = layer.backward(d_out)
    inv_std = 1 / np.sqrt(layer.running_var.astype(np.float64) + layer.eps)
    xhat = (X - layer.running_mean.astype(np.float64)) * inv_std
    tolerance = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d_X, d_out * layer.gamma.value.astype(np.float64) * inv_std, **tolerance)
    np.testing.assert_allclose(layer.gamma.grad, (d_out * xhat).sum(axis=(0, 1, 2)), **tolerance)
    np.testing.assert_allclose(layer.beta.grad, d_out.sum(axis=(0, 1, 2)), **tolerance)


def test_bn_backward_follows_the_mode_of_the_last_forward():
    X, d_out = random_input((5, 3)), np.random.default_rng(2).standard_normal((5, 3))
    layer = make_bn(3)
    layer.forward(X)
    layer.training = False  # switched between forward and backward: the batch statistics were used
    d_X = layer.backward(d_out)
    expected, _, _ = batch_norm_backward_training(X, layer.gamma.value, d_out, layer.eps)
    np.testing.assert_allclose(d_X, expected, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bn_evaluation_backward_uses_the_statistics_of_its_forward(dtype):
    """Running statistics changed after the forward pass do not change the gradient of that pass."""
    layer = make_bn(2, dtype)
    layer.training = False
    X, d_out = random_input((3, 2), dtype), np.ones((3, 2), dtype)
    layer.forward(X)
    first = layer.backward(d_out), layer.gamma.grad.copy()
    layer.running_mean += 5
    layer.running_var *= 3
    layer.gamma.grad[...] = 0
    np.testing.assert_array_equal(layer.backward(d_out), first[0])
    np.testing.assert_array_equal(layer.gamma.grad, first[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_bn_float32_input_into_float64_layer_and_back(dtype):
    """The layer computes in its own dtype; an input of the other precision is converted."""
    other = np.float64 if dtype == np.float32 else np.float32
    layer = make_bn(3, dtype)
    X = random_input((4, 3), other)
    out = layer.forward(X)
    assert out.dtype == dtype
    assert layer.backward(np.ones((4, 3), other)).dtype == dtype
    assert layer.running_mean.dtype == layer.running_var.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 3)])
def test_bn_constant_feature_gives_beta_and_finite_gradients(shape, dtype):
    """Zero variance: eps keeps 1 / sqrt(var + eps) finite, the feature normalizes to 0 and comes out as beta."""
    layer = make_bn(3, dtype)
    X = random_input(shape, dtype)
    X[..., 1] = 7.25
    d_out = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    out = layer.forward(X)
    d_X = layer.backward(d_out)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(d_X))
    assert np.all(np.isfinite(layer.gamma.grad)) and np.all(np.isfinite(layer.running_var))
    np.testing.assert_allclose(out[..., 1], layer.beta.value[1], rtol=1e-6)
    # xhat = 0: only the mean of d_out is taken out, scaled by gamma / sqrt(eps)
    d_constant = d_out[..., 1].astype(np.float64)
    expected = layer.gamma.value[1] / math.sqrt(layer.eps) * (d_constant - d_constant.mean())
    np.testing.assert_allclose(d_X[..., 1], expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_bn_constant_feature_passes_the_numeric_check():
    layer = make_bn(2)
    X = random_input((5, 2))
    X[:, 0] = -1.5
    assert check_layer_gradient(layer, X)


@pytest.mark.parametrize("shape", SINGLE_VALUE_SHAPES)
def test_bn_single_value_per_feature_in_training_is_refused_like_pytorch(shape):
    layer = make_bn(shape[-1])
    before = layer.running_mean.copy(), layer.running_var.copy()
    with pytest.raises(ValueError, match=r"`X` must hold more than 1 value per feature in training.*got shape"):
        layer.forward(random_input(shape))
    np.testing.assert_array_equal(layer.running_mean, before[0])
    np.testing.assert_array_equal(layer.running_var, before[1])
    layer.training = False
    assert np.all(np.isfinite(layer.forward(random_input(shape))))


@pytest.mark.parametrize("layout", ["large mean", "halves apart", "sorted"])
def test_bn_float32_statistics_of_a_large_batch(layout):
    """Float32 sums of 16,384 rows: no E[X^2] - mean^2 cancellation, no drift from float32 accumulation, whatever
    the order of the rows."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((64, 16, 16, 8)) * rng.uniform(0.01, 1, 8) + 1000
    if layout == "halves apart":
        X[32:] += 50
    elif layout == "sorted":
        X = np.sort(X.reshape(-1, 8), axis=0).reshape(X.shape)
    X = X.astype(np.float32)
    layer = BatchNormalization(8, momentum=1.0, dtype=np.float32)
    out = layer.forward(X)
    X64 = X.astype(np.float64).reshape(-1, 8)
    np.testing.assert_allclose(layer.running_mean, X64.mean(axis=0), rtol=2e-7)
    np.testing.assert_allclose(layer.running_var, X64.var(axis=0, ddof=1), rtol=1e-4)
    expected = (X64 - X64.mean(axis=0)) / np.sqrt(X64.var(axis=0) + layer.eps)
    np.testing.assert_allclose(out.reshape(-1, 8), expected, atol=2e-3)


def test_bn_output_shape():
    layer = BatchNormalization(3)
    assert layer.output_shape((3,)) == (3,)
    assert layer.output_shape([5, 4, 3]) == (5, 4, 3)
    for shape in [(2, 3), (7, 3), (1, 1, 1, 3), (2, 5, 4, 3)]:
        layer.training = shape[0] > 1 or len(shape) == 4 and shape[1] * shape[2] > 1
        assert layer.forward(random_input(shape)).shape == (shape[0], *layer.output_shape(shape[1:]))


@pytest.mark.parametrize("input_shape, error, match", [
    ((4,), ValueError, r"`input_shape` must end with the layer's 3 features, got 4"),
    ((2, 3), ValueError, r"`input_shape` must be the shape of one sample, \(n_features,\) or \(height, width, "
                         r"n_features\) without the batch axis, got \(2, 3\)"),
    ((1, 2, 2, 3), ValueError, r"must be the shape of one sample"),
    ((0, 2, 3), ValueError, r"`input_shape` must hold sizes >= 1, got \(0, 2, 3\)"),
    ((2.0, 2, 3), TypeError, r"`input_shape` must hold integers"),
    (3, TypeError, r"`input_shape` must be a tuple of ints, got int"),
])
def test_bn_output_shape_refuses(input_shape, error, match):
    with pytest.raises(error, match=match):
        BatchNormalization(3).output_shape(input_shape)


@pytest.mark.parametrize("arguments, error, match", [
    (dict(n_features=0), ValueError, r"`n_features` must be a positive integer, got 0"),
    (dict(n_features=2.5), TypeError, r"`n_features` must be an integer, got 2.5"),
    (dict(n_features=True), TypeError, r"`n_features` must be an integer"),
    (dict(n_features=3, momentum=-0.1), ValueError, r"`momentum` must be a finite number >= 0 and <= 1, got -0.1"),
    (dict(n_features=3, momentum=1.5), ValueError, r"`momentum` must be a finite number >= 0 and <= 1, got 1.5"),
    (dict(n_features=3, momentum="0.1"), TypeError, r"`momentum` must be a real number"),
    (dict(n_features=3, eps=0), ValueError, r"`eps` must be a finite number > 0, got 0"),
    (dict(n_features=3, eps=float("nan")), ValueError, r"`eps` must be a finite number > 0, got nan"),
    (dict(n_features=3, dtype=np.float16), ValueError, r"`dtype` must be float32 or float64, got float16"),
    (dict(n_features=3, dtype=np.int32), ValueError, r"`dtype` must be float32 or float64, got int32"),
])
def test_bn_constructor_refuses(arguments, error, match):
    with pytest.raises(error, match=match):
        BatchNormalization(**arguments)


@pytest.mark.parametrize("X, error, match", [
    (np.ones((4, 2)), ValueError, r"`X` must have shape \(batch, 3\) or \(batch, height, width, 3\)"),
    (np.ones((4, 2, 3)), ValueError, r"got \(4, 2, 3\)"),
    (np.ones((2, 2, 2, 2, 3)), ValueError, r"got \(2, 2, 2, 2, 3\)"),
    (np.ones((0, 3)), ValueError, r"with at least one sample, got \(0, 3\)"),
    (np.ones((4, 3), dtype=np.int64), TypeError, r"`X` must be an array of floats \(float32 or float64\)"),
    (np.ones((4, 3), dtype=np.float16), TypeError, r"got dtype float16"),
])
def test_bn_forward_refuses_without_state_change(X, error, match):
    layer = make_bn(3)
    before = [array.copy() for array in (layer.running_mean, layer.running_var, layer.gamma.value)]
    layer.forward(random_input((4, 3)))
    cached = layer.backward(np.ones((4, 3)))
    with pytest.raises(error, match=match):
        layer.forward(X)
    np.testing.assert_array_equal(layer.backward(np.ones((4, 3))), cached)  # the last good forward still holds
    assert not np.array_equal(layer.running_mean, before[0])  # moved by the good forward only: once
    layer2 = make_bn(3)
    layer2.forward(random_input((4, 3)))
    np.testing.assert_array_equal(layer.running_mean, layer2.running_mean)


@pytest.mark.parametrize("name, value, match", [
    ("running_mean", np.zeros(4), r"`running_mean` must have shape \(3,\), got \(4,\)"),
    ("running_var", np.ones(3, dtype=np.int64), r"`running_var` must be an array of floats"),
])
def test_bn_forward_refuses_broken_buffers(name, value, match):
    layer = make_bn(3)
    setattr(layer, name, value)
    with pytest.raises((ValueError, TypeError), match=match):
        layer.forward(random_input((4, 3)))


def test_bn_forward_refuses_a_gamma_of_the_wrong_shape():
    layer = make_bn(3)
    layer.gamma.value = np.ones(2)
    with pytest.raises(ValueError, match=r"`gamma.value` must have shape \(3,\), got \(2,\)"):
        layer.forward(random_input((4, 3)))


def test_bn_backward_before_forward_and_bad_d_out():
    layer = make_bn(3)
    with pytest.raises(ValueError, match=r"BatchNormalization.backward\(\) was called before forward\(\)"):
        layer.backward(np.ones((4, 3)))
    layer.forward(random_input((4, 3)))
    with pytest.raises(ValueError, match=r"`d_out` must have the shape of the last forward output \(4, 3\), "
                                         r"got \(4, 2\)"):
        layer.backward(np.ones((4, 2)))
    with pytest.raises(TypeError, match=r"`d_out` must be an array of floats"):
        layer.backward(np.ones((4, 3), dtype=np.int64))
    assert not layer.gamma.grad.any() and not layer.beta.grad.any()


# ----------------------------------------------------------------------------------------------------------- Dropout

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_each_element_with_probability_one_minus_p(p, dtype):
    X = np.ones((500, 400), dtype=dtype)
    out = Dropout(p, seed=0).forward(X)
    assert out.dtype == dtype
    kept = out != 0
    np.testing.assert_array_equal(out[kept], dtype(1 / (1 - p)))  # kept values scaled by 1 / (1 - p), exactly
    n = X.size
    assert abs(kept.mean() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)  # 5 standard deviations
    assert abs(out.mean(dtype=np.float64) - 1) < 5 * math.sqrt(p / (1 - p) / n)  # inverted: expectation kept


@pytest.mark.parametrize("p", [0.2, 0.7])
def test_dropout_mask_is_independent_across_elements_and_calls(p):
    layer = Dropout(p, seed=1)
    first, second = layer.forward(np.ones((300, 300))) != 0, layer.forward(np.ones((300, 300))) != 0
    assert not np.array_equal(first, second)
    both = (first & second).mean()
    assert abs(both - (1 - p) ** 2) < 5 * math.sqrt((1 - p) ** 2 * (1 - (1 - p) ** 2) / first.size)
    # neighbours along rows and columns are as independent as any two elements
    assert abs((first[:, 1:] & first[:, :-1]).mean() - (1 - p) ** 2) < 0.01
    assert abs((first[1:] & first[:-1]).mean() - (1 - p) ** 2) < 0.01


def test_dropout_is_reproducible_from_its_seed_and_leaves_the_global_rng_alone():
    state = np.random.get_state()
    X = np.random.default_rng(5).standard_normal((20, 30))
    first, again = Dropout(0.5, seed=3), Dropout(0.5, seed=3)
    np.testing.assert_array_equal(first.forward(X), again.forward(X))
    np.testing.assert_array_equal(first.forward(X), again.forward(X))  # the second masks match too
    assert not np.array_equal(Dropout(0.5, seed=4).forward(X), Dropout(0.5, seed=3).forward(X))
    generator = np.random.default_rng(9)
    np.testing.assert_array_equal(Dropout(0.5, seed=generator).forward(X),
                                  Dropout(0.5, seed=np.random.default_rng(9)).forward(X))
    Dropout(0.5).forward(X)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4, 3)])
def test_dropout_backward_uses_the_forward_mask(shape, dtype):
    X = np.random.default_rng(6).standard_normal(shape).astype(dtype) + 3  # no zeros: the mask is out / X
    layer = Dropout(0.4, seed=2)
    out = layer.forward(X)
    d_out = np.random.default_rng(7).standard_normal(shape).astype(dtype)
    d_X = layer.backward(d_out)
    assert d_X.dtype == dtype
    mask = np.where(out != 0, dtype(1 / 0.6), dtype(0))
    np.testing.assert_array_equal(out, X * mask)
    np.testing.assert_array_equal(d_X, d_out * mask)
    np.testing.assert_array_equal(layer.backward(d_out), d_X)  # a second backward, the same mask


@pytest.mark.parametrize("p", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 3, 2)])
def test_dropout_backward_matches_numeric_gradient(shape, p):
    """The mask is fixed by the seed: a fresh layer with the same seed draws the same mask for every perturbation."""
    X = np.random.default_rng(8).standard_normal(shape)
    weight = np.random.default_rng(9).standard_normal(shape)

    def value_and_grad(x):
        layer = Dropout(p, seed=11)
        return float(np.sum(layer.forward(x) * weight)), layer.backward(weight)

    assert check_gradient(value_and_grad, X)


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_dropout_evaluation_is_the_identity_and_draws_nothing(p):
    X = np.random.default_rng(6).standard_normal((4, 5)).astype(np.float32)
    layer = Dropout(p, seed=2)
    layer.training = False
    assert layer.forward(X) is X
    d_out = np.ones((4, 5), dtype=np.float32)
    assert layer.backward(d_out) is d_out
    layer.training = True
    np.testing.assert_array_equal(layer.forward(X), Dropout(p, seed=2).forward(X))  # no number was drawn


def test_dropout_p_zero_is_the_identity_in_training():
    X = np.random.default_rng(6).standard_normal((4, 5))
    layer = Dropout(0.0, seed=2)
    assert layer.forward(X) is X
    assert layer.backward(X) is X


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_p_one_drops_everything_like_pytorch(dtype):
    X = np.random.default_rng(6).standard_normal((4, 5)).astype(dtype)
    layer = Dropout(1.0, seed=2)
    out = layer.forward(X)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.zeros_like(X))
    np.testing.assert_array_equal(layer.backward(np.ones_like(X)), np.zeros_like(X))


def test_dropout_backward_follows_the_mode_of_the_last_forward():
    layer = Dropout(0.5, seed=0)
    out = layer.forward(np.ones((10, 10)))
    layer.training = False
    np.testing.assert_array_equal(layer.backward(np.ones((10, 10))), out)


def test_dropout_output_shape():
    layer = Dropout(0.5)
    assert layer.output_shape((3, 4, 5)) == (3, 4, 5)
    assert layer.output_shape([7]) == (7,)
    X = np.ones((2, 6, 3))
    assert layer.forward(X).shape == (2, *layer.output_shape(X.shape[1:]))
    with pytest.raises(TypeError, match=r"`input_shape` must be a tuple of ints, got str"):
        layer.output_shape("3, 4")
    with pytest.raises(ValueError, match=r"`input_shape` must hold sizes >= 1, got \(3, 0\)"):
        layer.output_shape((3, 0))


@pytest.mark.parametrize("arguments, error, match", [
    (dict(p=-0.1), ValueError, r"`p` must be a finite number >= 0 and <= 1, got -0.1"),
    (dict(p=1.5), ValueError, r"`p` must be a finite number >= 0 and <= 1, got 1.5"),
    (dict(p=float("nan")), ValueError, r"`p` must be a finite number >= 0 and <= 1, got nan"),
    (dict(p="0.5"), TypeError, r"`p` must be a real number, got '0.5'"),
    (dict(p=0.5, seed=-1), ValueError, r"`seed` must be a non-negative integer, got -1"),
    (dict(p=0.5, seed="1"), TypeError, r"`seed` must be None, an integer or a numpy.random.Generator, got str"),
])
def test_dropout_constructor_refuses(arguments, error, match):
    with pytest.raises(error, match=match):
        Dropout(**arguments)


def test_dropout_refuses_bad_input_and_early_backward():
    layer = Dropout(0.5, seed=0)
    with pytest.raises(ValueError, match=r"Dropout.backward\(\) was called before forward\(\)"):
        layer.backward(np.ones(3))
    with pytest.raises(TypeError, match=r"`X` must be an array of floats"):
        layer.forward(np.ones(3, dtype=np.int32))
    out = layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"`d_out` must have the shape of the last forward output \(2, 3\), "
                                         r"got \(3, 2\)"):
        layer.backward(np.ones((3, 2)))
    np.testing.assert_array_equal(layer.backward(np.ones((2, 3))), out)


# ------------------------------------------------------------------------------------------------------------ config

@pytest.mark.parametrize("make", [
    lambda: BatchNormalization(5, momentum=0.25, eps=1e-3, dtype=np.float32),
    lambda: BatchNormalization(2),
    lambda: Dropout(0.3, seed=4),
    lambda: Dropout(0.0),
])
def test_config_rebuilds_the_layer(make):
    """config() is JSON-serializable and rebuilds a layer of the same arguments (what Sequential.config stores)."""
    layer = make()
    config = json.loads(json.dumps(layer.config()))
    rebuilt = type(layer)(**config)
    assert rebuilt.config() == layer.config()
    if isinstance(layer, BatchNormalization):
        assert rebuilt.gamma.value.dtype == layer.gamma.value.dtype
