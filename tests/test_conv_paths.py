"""ConvolutionalLayer's two paths: im2col, and conv_gemm's shifted-slice products from 16 input channels on.

The layer picks a path by shape; both must give the same outputs and gradients, and the shifted one must match the
plain loop oracle and numeric gradients on its own.
"""
import numpy as np
import oracles
import pytest

from gradient_check import check_layer_param_gradient
from layers import ConvolutionalLayer


def forced_im2col(layer, monkeypatch):
    monkeypatch.setattr(layer, "_uses_shifted_products", lambda *args: False)
    return layer


@pytest.mark.parametrize("shape, filter_size, padding", [
    ((2, 20, 18, 16), 3, 1), ((1, 24, 24, 32), 3, 1), ((3, 17, 21, 16), 1, 0), ((1, 32, 30, 16), 5, 2),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shifted_products_match_im2col_forward_and_backward(shape, filter_size, padding, dtype, rng, monkeypatch):
    shifted = ConvolutionalLayer(shape[3], 5, filter_size, padding, dtype=dtype, seed=0)
    plain = forced_im2col(ConvolutionalLayer(shape[3], 5, filter_size, padding, dtype=dtype, seed=0), monkeypatch)
    X = rng.standard_normal(shape).astype(dtype)
    out = shifted.forward(X)
    assert shifted._shifted_cache is not None and shifted._cols is None      # the shifted path ran
    expected = plain.forward(X)
    tolerance = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(out, expected, **tolerance)
    d_out = rng.standard_normal(out.shape).astype(dtype)
    np.testing.assert_allclose(shifted.backward(d_out), plain.backward(d_out), **tolerance)
    np.testing.assert_allclose(shifted.W.grad, plain.W.grad, **tolerance)
    np.testing.assert_allclose(shifted.B.grad, plain.B.grad, **tolerance)
    assert out.dtype == dtype and shifted.W.grad.dtype == dtype


def test_shifted_products_match_the_loop_oracle(rng):
    layer = ConvolutionalLayer(16, 3, 3, 1, seed=0)
    layer.B.value = rng.standard_normal(3)
    X = rng.standard_normal((2, 20, 18, 16))
    np.testing.assert_allclose(layer.forward(X), oracles.conv2d(X, layer.W.value, layer.B.value, padding=1),
                               rtol=1e-10, atol=1e-10)
    assert layer._shifted_cache is not None


@pytest.mark.parametrize("param", ["W", "B"])
def test_shifted_products_parameter_gradients_match_numeric_ones(param, rng):
    layer = ConvolutionalLayer(16, 2, 3, 1, seed=0)
    assert check_layer_param_gradient(layer, rng.standard_normal((1, 20, 18, 16)), param)
    assert layer._shifted_cache is not None


def test_gradients_accumulate_and_a_path_switch_leaves_no_stale_state(rng, monkeypatch):
    layer = ConvolutionalLayer(16, 4, 3, 1, seed=0)
    big, small = rng.standard_normal((2, 20, 18, 16)), rng.standard_normal((2, 6, 5, 16))
    out = layer.forward(big)
    layer.backward(np.ones_like(out))
    first = layer.W.grad.copy()
    out = layer.forward(big)
    layer.backward(np.ones_like(out))
    np.testing.assert_allclose(layer.W.grad, 2 * first, rtol=1e-12)
    out = layer.forward(small)                       # 8x7 padded for 6x5 outputs: im2col
    assert layer._shifted_cache is None and layer._cols is not None
    plain = forced_im2col(ConvolutionalLayer(16, 4, 3, 1, seed=0), monkeypatch)
    np.testing.assert_allclose(out, plain.forward(small), rtol=1e-12)
    np.testing.assert_allclose(layer.backward(np.ones_like(out)), plain.backward(np.ones_like(out)), rtol=1e-12)


def test_the_first_layer_skips_its_input_gradient_on_the_shifted_path(rng):
    layer = ConvolutionalLayer(16, 4, 3, 1, seed=0, compute_input_grad=False)
    out = layer.forward(rng.standard_normal((1, 20, 18, 16)))
    assert layer.backward(np.ones_like(out)) is None and np.any(layer.W.grad)
