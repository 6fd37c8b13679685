"""PyTorch (float64, CPU) as a second, independent reference: conv, max pooling, and the whole ConvNet.

Our arrays are NHWC, torch's NCHW: images go through transpose(0, 3, 1, 2), conv weights (k, k, C, F) through
transpose(3, 2, 0, 1), and the flattening before the FC layer is done in NHWC order on the torch side too.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from blas import assert_same_predictions, rtol_for  # noqa: E402

from layers import ConvolutionalLayer, MaxPoolingLayer  # noqa: E402
from model import ConvNet  # noqa: E402

torch.set_num_threads(1)  # the suite runs under pytest-xdist; one thread per worker
TIGHT = dict(rtol=1e-10, atol=1e-12)

# (batch, height, width, in_ch, out_ch); the last one takes im2col's channels-last layout
CONV_SHAPES = [(1, 5, 5, 1, 1), (2, 6, 4, 2, 3), (3, 7, 6, 3, 2), (2, 6, 5, 8, 3)]


def to_torch(array, requires_grad=False):
    return torch.tensor(array, dtype=torch.float64, requires_grad=requires_grad)


def nhwc_to_nchw(X):
    return X.transpose(0, 3, 1, 2)


def nchw_to_nhwc(tensor):
    return tensor.detach().numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("filter_size", [1, 2, 3, 5])
@pytest.mark.parametrize("shape", CONV_SHAPES)
def test_conv_matches_torch(shape, filter_size, padding, stride):
    batch, height, width, in_channels, out_channels = shape
    if filter_size > min(height, width) + 2 * padding:
        pytest.skip("filter larger than the padded input")
    rng = np.random.default_rng(0)
    layer = ConvolutionalLayer(in_channels, out_channels, filter_size, padding, stride=stride, seed=rng)
    layer.B.value = rng.standard_normal(out_channels)
    X = rng.standard_normal((batch, height, width, in_channels))

    out = layer.forward(X)
    upstream = rng.standard_normal(out.shape)
    d_X = layer.backward(upstream)

    x_t = to_torch(nhwc_to_nchw(X), requires_grad=True)
    w_t = to_torch(layer.W.value.transpose(3, 2, 0, 1), requires_grad=True)  # (k, k, C, F) -> (F, C, k, k)
    b_t = to_torch(layer.B.value, requires_grad=True)
    out_t = F.conv2d(x_t, w_t, b_t, stride=stride, padding=padding)
    (out_t * to_torch(nhwc_to_nchw(upstream))).sum().backward()

    np.testing.assert_allclose(out, nchw_to_nhwc(out_t), **TIGHT)
    np.testing.assert_allclose(d_X, nchw_to_nhwc(x_t.grad), **TIGHT)
    np.testing.assert_allclose(layer.W.grad, w_t.grad.numpy().transpose(2, 3, 1, 0), **TIGHT)
    np.testing.assert_allclose(layer.B.grad, b_t.grad.numpy(), **TIGHT)


@pytest.mark.parametrize("kind", ["distinct", "integers", "equal"])
@pytest.mark.parametrize("pool_size, stride", [(2, 2), (3, 1), (3, 2), (2, 1), (2, 3), (4, 4), (4, 2)])
@pytest.mark.parametrize("shape", [(1, 5, 5, 1), (2, 6, 4, 2), (3, 7, 9, 3)])
def test_max_pool_matches_torch(shape, pool_size, stride, kind):
    """Including overlapping windows and ties: torch also sends each window's gradient to its first maximum."""
    if pool_size > min(shape[1:3]):
        pytest.skip("pool window larger than the input")
    rng = np.random.default_rng(1)
    X = {"distinct": rng.standard_normal(shape), "integers": rng.integers(0, 3, size=shape).astype(np.float64),
         "equal": np.full(shape, 0.5)}[kind]
    layer = MaxPoolingLayer(pool_size, stride)
    out = layer.forward(X)
    upstream = rng.standard_normal(out.shape)
    d_X = layer.backward(upstream)

    x_t = to_torch(nhwc_to_nchw(X), requires_grad=True)
    out_t = F.max_pool2d(x_t, kernel_size=pool_size, stride=stride)
    (out_t * to_torch(nhwc_to_nchw(upstream))).sum().backward()

    np.testing.assert_array_equal(out, nchw_to_nhwc(out_t))
    np.testing.assert_allclose(d_X, nchw_to_nhwc(x_t.grad), **TIGHT)


class NHWCFlatten(torch.nn.Module):
    """(batch, C, H, W) -> (batch, H * W * C) in NHWC order, like our Flattener on NHWC arrays."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).flatten(1)


def torch_twin(model, input_shape, conv1, conv2):
    """An nn.Sequential with the architecture of ConvNet and a copy of its weights."""
    height, width, channels = input_shape
    net = torch.nn.Sequential(
        torch.nn.Conv2d(channels, conv1, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(4, 4),
        torch.nn.Conv2d(conv1, conv2, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(4, 4),
        NHWCFlatten(), torch.nn.Linear((height // 16) * (width // 16) * conv2, 10),
    ).double()
    params = model.params()
    with torch.no_grad():
        for name, module in (("conv1", net[0]), ("conv2", net[3])):
            module.weight.copy_(to_torch(params[f"{name}_W"].value.transpose(3, 2, 0, 1)))
            module.bias.copy_(to_torch(params[f"{name}_B"].value))
        net[7].weight.copy_(to_torch(params["fc_W"].value.T))
        net[7].bias.copy_(to_torch(params["fc_B"].value[0]))
    return net


@pytest.mark.parametrize("reg", [0.0, 0.1])
@pytest.mark.parametrize("input_shape, conv1, conv2", [((32, 32, 3), 2, 2), ((16, 16, 3), 3, 4),
                                                       ((20, 36, 2), 2, 3), ((16, 16, 3), 8, 4)])
def test_convnet_matches_torch(input_shape, conv1, conv2, reg):
    rng = np.random.default_rng(2)
    model = ConvNet(input_shape, 10, conv1, conv2, reg=reg, seed=3)
    for name, param in model.params().items():
        if name.endswith("_B"):
            param.value = 0.1 * rng.standard_normal(param.value.shape)
    X = rng.uniform(0, 1, size=(3, *input_shape)) - 0.5
    y = rng.integers(0, 10, size=3)

    loss = model.compute_loss_and_gradients(X, y)

    net = torch_twin(model, input_shape, conv1, conv2)
    scores = net(to_torch(nhwc_to_nchw(X)))
    loss_t = F.cross_entropy(scores, torch.tensor(y))
    loss_t = loss_t + reg * sum((module.weight ** 2).sum() for module in (net[0], net[3], net[7]))
    loss_t.backward()

    assert loss == pytest.approx(loss_t.item(), rel=1e-12)
    expected = {
        "conv1_W": net[0].weight.grad.numpy().transpose(2, 3, 1, 0), "conv1_B": net[0].bias.grad.numpy(),
        "conv2_W": net[3].weight.grad.numpy().transpose(2, 3, 1, 0), "conv2_B": net[3].bias.grad.numpy(),
        "fc_W": net[7].weight.grad.numpy().T, "fc_B": net[7].bias.grad.numpy()[None, :],
    }
    params = model.params()
    assert sorted(params) == sorted(expected)
    for name, grad in expected.items():
        np.testing.assert_allclose(params[name].grad, grad, err_msg=name, **TIGHT)
    assert_same_predictions(model.predict(X), scores.detach().numpy(), rtol_for(np.float64))
