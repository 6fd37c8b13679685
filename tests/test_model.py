"""model.py: ConvNet's gradients against central differences, its loss at initialisation, predict, params, dtype."""
import numpy as np
import oracles
import pytest
from blas import assert_same_predictions, rtol_for

from gradient_check import check_model_gradient
from layers import ConvolutionalLayer, Param
from model import ConvNet

PARAM_NAMES = ["conv1_W", "conv1_B", "conv2_W", "conv2_B", "fc_W", "fc_B"]
# (input_shape, conv1_channels, conv2_channels): the notebook's model, smaller and non-square inputs, wider layers.
GRAD_CONFIGS = [((32, 32, 3), 2, 2), ((16, 16, 3), 2, 2), ((16, 16, 3), 3, 4), ((20, 16, 2), 2, 3),
                ((16, 16, 3), 8, 3)]  # conv2 sees 8 channels: im2col's channels-last layout


def realistic_batch(input_shape, batch, seed, n_classes=10):
    """Uniform pixel values / 255 minus the batch mean, as the notebook prepares SVHN; random labels."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(batch, *input_shape)).astype(np.float64) / 255.0
    X -= X.mean(axis=0)
    return X, rng.integers(0, n_classes, size=batch)


def make_model(input_shape=(16, 16, 3), conv1=2, conv2=3, seed=0, **kwargs):
    """A ConvNet whose biases are random too, so that every parameter moves the loss."""
    model = ConvNet(input_shape, 10, conv1, conv2, seed=seed, **kwargs)
    rng = np.random.default_rng(seed + 100)
    for name, param in model.params().items():
        if name.endswith("_B"):
            param.value = (0.1 * rng.standard_normal(param.value.shape)).astype(param.value.dtype)
    return model


def all_grads(model, X, y):
    model.compute_loss_and_gradients(X, y)
    return {name: param.grad.copy() for name, param in model.params().items()}


# ------------------------------------------------------------------------------------------------------ gradients

@pytest.mark.parametrize("reg", [0.0, 0.05])
@pytest.mark.parametrize("input_shape, conv1, conv2", GRAD_CONFIGS)
def test_model_gradient_package_check(input_shape, conv1, conv2, reg):
    model = make_model(input_shape, conv1, conv2, reg=reg)
    X, y = realistic_batch(input_shape, 2, seed=1)
    assert check_model_gradient(model, X, y)


@pytest.mark.parametrize("name", PARAM_NAMES)
@pytest.mark.parametrize("input_shape, conv1, conv2", GRAD_CONFIGS)
def test_model_gradient_own_check(input_shape, conv1, conv2, name):
    model = make_model(input_shape, conv1, conv2, reg=0.01)
    X, y = realistic_batch(input_shape, 2, seed=1)
    analytic = all_grads(model, X, y)[name]
    numeric = oracles.numeric_gradient(lambda: model.compute_loss_and_gradients(X, y), model.params()[name].value)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_first_conv_layer_skips_the_input_gradient():
    """Training never needs d(loss)/d(images): the first convolution's backward returns None, the others arrays."""
    model = make_model()
    returned = {}
    for name, layer in model.layers.items():
        def recording_backward(d_out, name=name, backward=layer.backward):
            returned[name] = backward(d_out)
            return returned[name]
        layer.backward = recording_backward
    model.compute_loss_and_gradients(*realistic_batch((16, 16, 3), 2, seed=1))
    conv_names = [name for name, layer in model.layers.items() if isinstance(layer, ConvolutionalLayer)]
    assert returned.pop(conv_names[0]) is None
    assert all(isinstance(d_input, np.ndarray) for d_input in returned.values())


def test_compute_loss_zeroes_grads_first():
    X, y = realistic_batch((16, 16, 3), 3, seed=2)
    fresh = all_grads(make_model(), X, y)
    model = make_model()
    for param in model.params().values():
        param.grad = np.full_like(param.value, 123.0)
    first = all_grads(model, X, y)
    second = all_grads(model, X, y)
    for name in PARAM_NAMES:
        np.testing.assert_array_equal(first[name], fresh[name])
        np.testing.assert_array_equal(second[name], fresh[name])


def test_reg_adds_l2_of_the_weights_to_loss_and_grads():
    """reg > 0 adds reg * sum(W**2) over conv1_W, conv2_W, fc_W to the loss and 2 * reg * W to their gradients;
    the biases are not penalised (model.py's documented choice)."""
    reg = 0.3
    X, y = realistic_batch((16, 16, 3), 3, seed=3)
    plain, penalised = make_model(seed=4), make_model(seed=4, reg=reg)
    loss_plain, loss_penalised = plain.compute_loss_and_gradients(X, y), penalised.compute_loss_and_gradients(X, y)
    weights = {name: param.value for name, param in plain.params().items() if name.endswith("_W")}
    assert sorted(weights) == ["conv1_W", "conv2_W", "fc_W"]
    assert loss_penalised - loss_plain == pytest.approx(reg * sum(np.sum(W * W) for W in weights.values()),
                                                        rel=1e-10)
    for name, param in penalised.params().items():
        extra = 2 * reg * weights[name] if name in weights else 0.0
        np.testing.assert_allclose(param.grad, plain.params()[name].grad + extra, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------------------ loss at initialisation

@pytest.mark.parametrize("input_shape, conv1, conv2", [((32, 32, 3), 2, 2), ((32, 32, 3), 8, 8),
                                                       ((32, 32, 3), 16, 32), ((16, 16, 3), 4, 4)])
def test_loss_at_init_close_to_ln10(input_shape, conv1, conv2):
    """Mean loss over 8 seeds (model and batch of 32) within 1.0 of ln(10) = 2.30.

    Why 1.0: a uniform guess scores ln(10); scores of standard deviation s add about s**2 / 2. He-scaled convs keep
    activations O(1), but each 4x4 max-pool keeps the largest of 16 ReLU outputs, so the FC sees inputs with a
    second moment above 1 and s is about 1: the loss is 2.6-3.0 for widths 2..32. A missing fan-in scaling in any
    layer gives s >> 1 and a loss of 10 or more (unit-variance weights: 17-26), far outside the band.
    """
    losses = []
    for seed in range(8):
        X, y = realistic_batch(input_shape, 32, seed=100 + seed)
        losses.append(ConvNet(input_shape, 10, conv1, conv2, seed=seed).compute_loss_and_gradients(X, y))
    assert abs(np.mean(losses) - np.log(10)) < 1.0, losses


# ------------------------------------------------------------------------------------- predict, params, dtype, seed

@pytest.mark.parametrize("batch", [1, 2, 5])
def test_predict_returns_one_int_class_per_image(batch):
    model = make_model((16, 16, 3))
    X, _ = realistic_batch((16, 16, 3), batch, seed=5)
    predictions = model.predict(X)
    assert predictions.shape == (batch,)
    assert np.issubdtype(predictions.dtype, np.integer)
    assert np.all((0 <= predictions) & (predictions < 10))
    one_by_one = np.concatenate([model.forward(X[i:i + 1]) for i in range(batch)])   # batches of 1: other BLAS paths
    assert_same_predictions(predictions, one_by_one, rtol_for(model.dtype))


def test_compute_loss_returns_a_float():
    loss = make_model().compute_loss_and_gradients(*realistic_batch((16, 16, 3), 2, seed=6))
    assert isinstance(loss, float) and np.isfinite(loss)


@pytest.mark.parametrize("input_shape, conv1, conv2, fc_inputs", [
    ((32, 32, 3), 2, 2, 2 * 2 * 2),
    ((16, 16, 3), 3, 5, 1 * 1 * 5),
    ((20, 36, 1), 4, 6, 1 * 2 * 6),
])
def test_params_names_and_shapes(input_shape, conv1, conv2, fc_inputs):
    params = ConvNet(input_shape, 10, conv1, conv2, seed=0).params()
    channels = input_shape[2]
    assert {name: param.value.shape for name, param in params.items()} == {
        "conv1_W": (3, 3, channels, conv1), "conv1_B": (conv1,), "conv2_W": (3, 3, conv1, conv2),
        "conv2_B": (conv2,), "fc_W": (fc_inputs, 10), "fc_B": (1, 10)}
    assert all(isinstance(param, Param) for param in params.values())
    assert len({id(param) for param in params.values()}) == len(params)


def test_float32_model_stays_float32():
    model32, model64 = make_model(dtype=np.float32), make_model(dtype=np.float64)
    X, y = realistic_batch((16, 16, 3), 3, seed=7)
    outputs = []
    for layer in model32.layers.values():
        for method in ("forward", "backward"):
            original = getattr(layer, method)

            def recording(array, original=original):
                result = original(array)
                outputs.append(result)
                return result
            setattr(layer, method, recording)
    loss32 = model32.compute_loss_and_gradients(X.astype(np.float32), y)
    loss64 = model64.compute_loss_and_gradients(X, y)
    assert isinstance(loss32, float) and loss32 == pytest.approx(loss64, rel=1e-5)
    assert all(output.dtype == np.float32 for output in outputs if output is not None)
    for name, param in model32.params().items():
        assert param.value.dtype == np.float32 and param.grad.dtype == np.float32
        np.testing.assert_allclose(param.grad, model64.params()[name].grad, rtol=1e-3, atol=1e-5)
    assert_same_predictions(model32.predict(X.astype(np.float32)), model64.forward(X), rtol_for(np.float32))


@pytest.mark.parametrize("make_seed", [lambda: 11, lambda: np.random.default_rng(11)], ids=["int", "generator"])
def test_same_seed_same_model(make_seed):
    first, second = (ConvNet((16, 16, 3), 10, 2, 3, seed=make_seed()) for _ in range(2))
    for name, param in first.params().items():
        np.testing.assert_array_equal(param.value, second.params()[name].value)
    X, y = realistic_batch((16, 16, 3), 2, seed=8)
    assert first.compute_loss_and_gradients(X, y) == second.compute_loss_and_gradients(X, y)


@pytest.mark.parametrize("seeds", [(0, 1), (None, None)], ids=["ints", "none"])
def test_different_seeds_different_models(seeds):
    first, second = (ConvNet((16, 16, 3), 10, 2, 3, seed=seed) for seed in seeds)
    for name in ("conv1_W", "conv2_W", "fc_W"):
        assert not np.array_equal(first.params()[name].value, second.params()[name].value)


def test_model_leaves_global_random_state_alone():
    state = np.random.get_state()
    model = ConvNet((16, 16, 3), 10, 2, 2)
    X, y = realistic_batch((16, 16, 3), 2, seed=9)
    model.compute_loss_and_gradients(X, y)
    model.predict(X)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


# ------------------------------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("call", [
    lambda model, X, y: model.predict(X),
    lambda model, X, y: model.compute_loss_and_gradients(X, y),
], ids=["predict", "compute_loss_and_gradients"])
def test_non_finite_images_are_refused_with_their_count(call, bad_value):
    model = make_model()
    X, y = realistic_batch((16, 16, 3), 3, seed=10)
    X[1, 2, 3, 0] = X[2, 5, 5, 2] = bad_value
    before = {name: (param.value.copy(), param.grad.copy()) for name, param in model.params().items()}
    with pytest.raises(ValueError, match=r"`X` must hold finite values only, got 2 NaN or infinite values out of "
                                         rf"{X.size}"):
        call(model, X, y)
    for name, param in model.params().items():
        np.testing.assert_array_equal(param.value, before[name][0])
        np.testing.assert_array_equal(param.grad, before[name][1])


@pytest.mark.parametrize("call", [
    lambda model, X, y: model.predict(X),
    lambda model, X, y: model.compute_loss_and_gradients(X, y),
], ids=["predict", "compute_loss_and_gradients"])
@pytest.mark.parametrize("model_dtype", [np.float32, np.float64])
def test_float16_images_are_refused_like_a_float16_model(call, model_dtype):
    X, y = realistic_batch((16, 16, 3), 2, seed=11)
    with pytest.raises(TypeError, match=r"`X` must be an array of floats \(float32 or float64\), got dtype float16"):
        call(make_model(dtype=model_dtype), X.astype(np.float16), y)
    with pytest.raises(ValueError, match=r"`dtype` must be float32 or float64, got float16"):
        ConvNet((16, 16, 3), 10, 2, 3, dtype=np.float16)


def test_forward_gives_the_scores_predict_takes_the_argmax_of(rng):
    model = ConvNet((16, 16, 3), 10, 2, 3, seed=0)
    X = rng.standard_normal((4, 16, 16, 3))
    scores = model.forward(X)
    assert scores.shape == (4, 10)
    np.testing.assert_array_equal(scores.argmax(axis=1), model.predict(X))
    with pytest.raises(ValueError, match="`X` must have 3 channels"):
        model.forward(X[..., :2])
