"""A whole Sequential trained step by step beside the same torch.nn.Sequential: losses, predictions, statistics.

Both start from the same weights and see the same batches; the loss after every one of 30 SGD-with-momentum steps
must agree to 1e-6 relative in float64, and so must the running statistics and the predictions in evaluation mode.
"""
import numpy as np
import pytest
from blas import assert_same_predictions

import layers
from model import Sequential
from optim import MomentumSGD

torch = pytest.importorskip("torch")
nn = torch.nn

STEPS, BATCH, LEARNING_RATE, MOMENTUM = 30, 16, 0.05, 0.9


class NHWCFlatten(nn.Module):
    """Flatten in our order (height, width, channels) rather than torch's (channels, height, width)."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def build_pair(seed):
    ours = Sequential([
        layers.ConvolutionalLayer(3, 4, 3, 1, seed=seed), layers.BatchNormalization(4), layers.ReLULayer(),
        layers.MaxPoolingLayer(2, 2), layers.ConvolutionalLayer(4, 6, 3, 0, seed=seed + 1),
        layers.BatchNormalization(6, momentum=0.3), layers.TanhLayer(),
        layers.AveragePoolingLayer(2, 2), layers.Flattener(), layers.Dropout(0.0, seed=seed),
        layers.FullyConnectedLayer(24, 8, seed=seed + 2), layers.BatchNormalization(8), layers.ReLULayer(),
        layers.FullyConnectedLayer(8, 5, seed=seed + 3, gain=1 / 3),
    ])
    theirs = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(4, 6, 3), nn.BatchNorm2d(6, momentum=0.3), nn.Tanh(), nn.AvgPool2d(2, 2), NHWCFlatten(),
        nn.Dropout(0.0), nn.Linear(24, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 5),
    ).double()
    params = ours.params()
    with torch.no_grad():
        for name, module in zip(ours.layers, theirs):
            if name.startswith("conv"):
                module.weight.copy_(torch.from_numpy(params[f"{name}_W"].value.transpose(3, 2, 0, 1).copy()))
                module.bias.copy_(torch.from_numpy(params[f"{name}_B"].value))
            elif name.startswith("fc"):
                module.weight.copy_(torch.from_numpy(params[f"{name}_W"].value.T.copy()))
                module.bias.copy_(torch.from_numpy(params[f"{name}_B"].value[0]))
    return ours, theirs


def test_thirty_momentum_steps_follow_pytorch():
    ours, theirs = build_pair(seed=0)
    data = np.random.default_rng(1)
    X = data.standard_normal((STEPS, BATCH, 12, 12, 3))
    y = data.integers(0, 5, (STEPS, BATCH))
    optimizers = {name: MomentumSGD(momentum=MOMENTUM) for name in ours.params()}
    torch_optimizer = torch.optim.SGD(theirs.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    loss_function = nn.CrossEntropyLoss()
    ours.train()
    theirs.train()
    for step in range(STEPS):
        our_loss = ours.compute_loss_and_gradients(X[step], y[step])
        for name, param in ours.params().items():
            param.value = optimizers[name].update(param.value, param.grad, LEARNING_RATE)

        torch_optimizer.zero_grad()
        their_loss = loss_function(theirs(torch.from_numpy(X[step]).permute(0, 3, 1, 2)),
                                   torch.from_numpy(y[step]))
        their_loss.backward()
        torch_optimizer.step()
        assert our_loss == pytest.approx(their_loss.item(), rel=1e-6), f"step {step}"

    torch_norms = [module for module in theirs if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d))]
    our_norms = [layer for layer in ours.layers.values() if isinstance(layer, layers.BatchNormalization)]
    for our_norm, their_norm in zip(our_norms, torch_norms):
        np.testing.assert_allclose(our_norm.running_mean, their_norm.running_mean.numpy(), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(our_norm.running_var, their_norm.running_var.numpy(), rtol=1e-6, atol=1e-9)

    test_X = data.standard_normal((64, 12, 12, 3))
    theirs.eval()
    with torch.no_grad():
        their_scores = theirs(torch.from_numpy(test_X).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_allclose(ours.eval().forward(test_X), their_scores, rtol=1e-6, atol=1e-8)
    assert_same_predictions(ours.predict(test_X), their_scores, rtol=1e-6)
