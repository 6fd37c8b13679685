"""PyTorch (CPU) as an independent reference for the layers added for real models: BatchNormalization,
AveragePoolingLayer, GlobalAveragePooling and TanhLayer.

Our arrays are NHWC, torch's NCHW: images go through transpose(0, 3, 1, 2). Training-mode batch norm is compared over
several steps (outputs, input and parameter gradients, running statistics after every step), then in evaluation
mode with the running statistics those steps left, for 2-D inputs (BatchNorm1d) and 4-D ones (BatchNorm2d).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from layers import AveragePoolingLayer, GlobalAveragePooling, TanhLayer  # noqa: E402
from normalization import BatchNormalization  # noqa: E402

torch.set_num_threads(1)  # the suite may run under pytest-xdist; one thread per worker
TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-5)}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
# 2-D (batch, features) and 4-D (batch, height, width, channels); odd, non-square, batch 1 with several pixels
BN_SHAPES = [(2, 3), (9, 4), (1, 3, 5, 2), (4, 5, 3, 3), (3, 1, 1, 6)]
BN_ARGUMENTS = [dict(), dict(momentum=0.3, eps=1e-3), dict(momentum=1.0)]


def to_nchw(array):
    return array.transpose(0, 3, 1, 2) if array.ndim == 4 else array


def from_nchw(tensor):
    array = tensor.detach().numpy()
    return array.transpose(0, 2, 3, 1) if array.ndim == 4 else array


def torch_bn(layer, ndim, dtype):
    """A torch batch norm with the same gamma, beta, running statistics, momentum and eps as `layer`."""
    module = (torch.nn.BatchNorm1d if ndim == 2 else torch.nn.BatchNorm2d)(
        layer.n_features, eps=layer.eps, momentum=layer.momentum).to(TORCH_DTYPE[dtype])
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(layer.gamma.value))
        module.bias.copy_(torch.from_numpy(layer.beta.value))
        module.running_mean.copy_(torch.from_numpy(layer.running_mean))
        module.running_var.copy_(torch.from_numpy(layer.running_var))
    return module


def step(layer, module, X, d_out):
    """Forward and backward on both sides; returns ours and theirs: (out, d_X, d_gamma, d_beta)."""
    for param in layer.params().values():
        param.grad[...] = 0
    module.zero_grad()
    ours = layer.forward(X), layer.backward(d_out)
    x = torch.tensor(to_nchw(X), requires_grad=True)
    out = module(x)
    out.backward(torch.from_numpy(np.ascontiguousarray(to_nchw(d_out))))
    theirs = from_nchw(out), from_nchw(x.grad)
    return ((*ours, layer.gamma.grad.copy(), layer.beta.grad.copy()),
            (*theirs, module.weight.grad.numpy(), module.bias.grad.numpy()))


def assert_same(ours, theirs, dtype):
    for name, a, b in zip(["out", "d_X", "d_gamma", "d_beta"], ours, theirs):
        assert a.dtype == dtype, name
        np.testing.assert_allclose(a, b, **TOLERANCE[dtype], err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("arguments", BN_ARGUMENTS)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_matches_torch_over_training_steps_then_in_evaluation(shape, arguments, dtype):
    rng = np.random.default_rng(0)
    n_features = shape[-1]
    layer = BatchNormalization(n_features, dtype=dtype, **arguments)
    layer.gamma.value = rng.uniform(0.5, 2, n_features).astype(dtype)
    layer.beta.value = rng.standard_normal(n_features).astype(dtype)
    module = torch_bn(layer, len(shape), dtype)
    module.train()
    for _ in range(5):
        X = (rng.standard_normal(shape) * rng.uniform(0.5, 3, n_features) + rng.uniform(-2, 2, n_features))
        d_out = rng.standard_normal(shape)
        ours, theirs = step(layer, module, X.astype(dtype), d_out.astype(dtype))
        assert_same(ours, theirs, dtype)
        np.testing.assert_allclose(layer.running_mean, module.running_mean.numpy(), **TOLERANCE[dtype])
        np.testing.assert_allclose(layer.running_var, module.running_var.numpy(), **TOLERANCE[dtype])

    layer.training = False
    module.eval()
    X = rng.standard_normal(shape).astype(dtype)
    ours, theirs = step(layer, module, X, rng.standard_normal(shape).astype(dtype))
    assert_same(ours, theirs, dtype)


def test_batch_norm_single_value_per_channel_is_refused_like_torch():
    """torch raises 'Expected more than 1 value per channel when training'; so do we, with a ValueError."""
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        torch.nn.BatchNorm1d(3)(torch.ones(1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="more than 1 value per feature"):
        BatchNormalization(3).forward(np.ones((1, 3)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_norm_constant_channel_matches_torch(dtype):
    """Zero variance: both give beta for the output and the same finite gradient."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3, 4, 5, 2)).astype(dtype)
    X[..., 0] = 2.5
    layer = BatchNormalization(2, dtype=dtype)
    layer.beta.value = np.array([0.25, -1], dtype=dtype)
    module = torch_bn(layer, 4, dtype)
    ours, theirs = step(layer, module, X, rng.standard_normal(X.shape).astype(dtype))
    assert all(np.all(np.isfinite(array)) for array in ours)
    for name, a, b in zip(["out", "d_X", "d_gamma", "d_beta"], ours, theirs):
        scale = max(1.0, float(np.abs(b).max()))  # d_X of the constant channel is of size 1 / sqrt(eps)
        np.testing.assert_allclose(a, b, rtol=TOLERANCE[dtype]["rtol"], atol=TOLERANCE[dtype]["atol"] * scale,
                                   err_msg=name)


def forward_backward(layer, function, X):
    """Our layer and a torch function on the same X and upstream gradient: (out, d_X) for each side."""
    rng = np.random.default_rng(2)
    out = layer.forward(X)
    d_out = rng.standard_normal(out.shape).astype(X.dtype)
    d_X = layer.backward(d_out)
    x = torch.tensor(to_nchw(X), requires_grad=True)
    out_t = function(x)
    out_t.backward(torch.from_numpy(np.ascontiguousarray(to_nchw(d_out))))
    return (out, d_X), (from_nchw(out_t), from_nchw(x.grad))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pool_size, stride", [(1, 1), (2, 2), (2, 1), (3, 1), (3, 2), (2, 3), (4, 4), (4, 2)])
@pytest.mark.parametrize("shape", [(1, 5, 5, 1), (2, 6, 4, 2), (3, 7, 9, 3), (2, 8, 8, 4)])
def test_average_pooling_matches_torch(shape, pool_size, stride, dtype):
    """Including overlapping windows (stride < pool) and windows dropped at the edges (torch's default floor)."""
    if pool_size > min(shape[1:3]):
        pytest.skip("pool window larger than the input")
    X = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    ours, theirs = forward_backward(AveragePoolingLayer(pool_size, stride), lambda x: torch.nn.functional.avg_pool2d(
        x, kernel_size=pool_size, stride=stride), X)
    for name, a, b in zip(["out", "d_X"], ours, theirs):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **TOLERANCE[dtype], err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 1, 1, 2), (2, 3, 5, 4), (3, 8, 8, 3)])
def test_global_average_pooling_matches_torch(shape, dtype):
    X = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    ours, theirs = forward_backward(GlobalAveragePooling(), lambda x: torch.nn.functional.adaptive_avg_pool2d(
        x, 1).flatten(1), X)
    for name, a, b in zip(["out", "d_X"], ours, theirs):
        np.testing.assert_allclose(a, b, **TOLERANCE[dtype], err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(4, 7), (2, 3, 5, 4)])
def test_tanh_matches_torch(shape, dtype):
    X = (np.random.default_rng(1).standard_normal(shape) * 3).astype(dtype)
    ours, theirs = forward_backward(TanhLayer(), torch.tanh, X)
    for name, a, b in zip(["out", "d_X"], ours, theirs):
        np.testing.assert_allclose(a, b, **TOLERANCE[dtype], err_msg=name)
