"""Sequential, lenet and vgg: naming, parameters, buffers, modes, gradients, checkpoints and bad input."""
import numpy as np
import pytest
from blas import assert_same_predictions, rtol_for

from checkpoint import load_model, save_model
from gradient_check import check_model_gradient
from layers import (
    BatchNormalization,
    ConvolutionalLayer,
    Dropout,
    Flattener,
    FullyConnectedLayer,
    MaxPoolingLayer,
    ReLULayer,
    TanhLayer,
)
from model import ConvNet, Sequential, lenet, vgg


def small_net(dtype=np.float64, seed=0, dropout=0.0):
    """conv -> bn -> relu -> pool -> conv -> tanh -> flatten -> dropout -> fc on 6x5x3 images."""
    rng = np.random.default_rng(seed)
    return Sequential([
        ConvolutionalLayer(3, 4, 3, 1, dtype=dtype, seed=rng), BatchNormalization(4, dtype=dtype), ReLULayer(),
        MaxPoolingLayer(2, 1),
        ConvolutionalLayer(4, 3, 2, 0, dtype=dtype, seed=rng), TanhLayer(), Flattener(),
        Dropout(dropout, seed=rng), FullyConnectedLayer(4 * 3 * 3, 5, dtype=dtype, seed=rng, gain=1 / 3),
    ])


def test_unnamed_layers_are_named_by_type_and_position():
    model = small_net()
    assert list(model.layers) == ["conv1", "bn1", "relu1", "pool1", "conv2", "tanh1", "flatten1", "drop1", "fc1"]
    assert set(model.params()) == {"conv1_W", "conv1_B", "bn1_gamma", "bn1_beta", "conv2_W", "conv2_B",
                                   "fc1_W", "fc1_B"}
    assert set(model.buffers()) == {"bn1_running_mean", "bn1_running_var"}


def test_named_and_unnamed_layers_mix():
    model = Sequential([("features", Flattener()), FullyConnectedLayer(12, 3, seed=0), ("out", ReLULayer())])
    assert list(model.layers) == ["features", "fc1", "out"]


@pytest.mark.parametrize("layers, error, match", [
    ([], ValueError, "at least one layer"),
    ("conv", TypeError, "`layers` must be a list"),
    ([ReLULayer(), object()], TypeError, r"`layers\[1\]` must be a layer with forward, backward and params"),
    ([("a", ReLULayer()), ("a", ReLULayer())], ValueError, "already taken"),
    ([("a/b", ReLULayer())], ValueError, "free of '/'"),
    ([("", ReLULayer())], ValueError, "non-empty"),
])
def test_bad_layer_lists_are_refused(layers, error, match):
    with pytest.raises(error, match=match):
        Sequential(layers)


def test_the_same_layer_object_twice_is_refused():
    fc = FullyConnectedLayer(4, 4, seed=0)
    with pytest.raises(ValueError, match=r"`layers\[3\]` is the same object as `layers\[1\]` \(fc1\)"):
        Sequential([Flattener(), fc, ReLULayer(), fc])
    relu = ReLULayer()     # no parameters, but backward reads the input of its own last forward
    with pytest.raises(ValueError, match="same object"):
        Sequential([Flattener(), relu, FullyConnectedLayer(4, 4, seed=0), relu])


def test_two_layers_sharing_a_parameter_are_refused():
    first, second = FullyConnectedLayer(4, 4, seed=0), FullyConnectedLayer(4, 4, seed=1)
    second.W = first.W
    with pytest.raises(ValueError, match=r"`layers\[3\]` \(fc2\) shares its parameter W with fc1"):
        Sequential([Flattener(), first, ReLULayer(), second])


def test_a_hand_built_model_with_the_documented_output_gain_starts_near_ln_of_its_classes():
    def first_loss(seed, gain):
        rng = np.random.default_rng(seed)
        X, y = rng.standard_normal((64, 16, 16, 3)), rng.integers(0, 4, size=64)
        model = Sequential([ConvolutionalLayer(3, 8, 3, 1, seed=rng), ReLULayer(), MaxPoolingLayer(2, 2),
                            Flattener(), FullyConnectedLayer(8 * 8 * 8, 4, seed=rng, gain=gain)])
        return model.compute_loss_and_gradients(X, y)

    documented = np.median([first_loss(seed, 1 / 3) for seed in range(10)])
    default = np.median([first_loss(seed, 2.0) for seed in range(10)])
    assert abs(documented - np.log(4)) < 0.3 < abs(default - np.log(4))     # the README's advice matters


def test_sequential_of_convnet_layers_computes_what_convnet_computes(rng):
    convnet = ConvNet((16, 16, 3), 10, 4, 6, seed=0, reg=0.01)
    model = Sequential(list(convnet.layers.items()), reg=0.01)
    X, y = rng.standard_normal((5, 16, 16, 3)), rng.integers(0, 10, 5)
    assert model.compute_loss_and_gradients(X, y) == pytest.approx(convnet.compute_loss_and_gradients(X, y),
                                                                   rel=1e-12)
    np.testing.assert_array_equal(model.predict(X), convnet.predict(X))


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradients_of_every_parameter_match_numeric_ones(mode, rng):
    model = getattr(small_net(), mode)()
    X, y = rng.standard_normal((4, 6, 5, 3)), rng.integers(0, 5, 4)
    assert check_model_gradient(model, X, y)


def test_l2_penalty_covers_only_weights(rng):
    model = small_net()
    X, y = rng.standard_normal((3, 6, 5, 3)), rng.integers(0, 5, 3)
    plain = model.compute_loss_and_gradients(X, y)
    model.reg = 0.1
    penalised = model.compute_loss_and_gradients(X, y)
    weights = sum(np.sum(param.value ** 2) for name, param in model.params().items() if name.endswith("_W"))
    assert penalised == pytest.approx(plain + 0.1 * weights, rel=1e-10)


def test_predict_runs_in_evaluation_mode_and_puts_the_mode_back(rng):
    model = small_net(dropout=0.5)
    X = rng.standard_normal((8, 6, 5, 3))
    model.compute_loss_and_gradients(X, rng.integers(0, 5, 8))    # running statistics move away from 0 / 1
    scores = model.eval().forward(X)
    model.train()
    assert_same_predictions(model.predict(X, batch_size=3), scores, rtol_for(model.dtype))
    assert model.training and model.layers["bn1"].training and model.layers["drop1"].training
    model.eval()
    model.predict(X)
    assert not model.training and not model.layers["bn1"].training


def test_train_and_eval_return_the_model():
    model = small_net()
    assert model.eval() is model and model.train() is model


def test_first_convolution_skips_its_input_gradient():
    model = small_net()
    assert model.layers["conv1"].compute_input_grad is False
    assert model.layers["conv2"].compute_input_grad is True


def test_labels_are_checked_against_the_scores_before_anything_changes(rng):
    model = small_net()
    before = {name: buffer.copy() for name, buffer in model.buffers().items()}
    with pytest.raises(ValueError, match=r"`y` must hold class indices in \[0, 5\), got 7"):
        model.compute_loss_and_gradients(rng.standard_normal((2, 6, 5, 3)), [0, 7])
    for name, buffer in model.buffers().items():
        np.testing.assert_array_equal(buffer, before[name])


@pytest.mark.parametrize("call", ["predict", "compute_loss_and_gradients", "forward"])
def test_non_finite_input_is_refused(call, rng):
    X = rng.standard_normal((3, 6, 5, 3))
    X[1, 2, 3, 0] = np.nan
    X[2, 0, 0, 1] = np.inf
    args = (X, [0, 1, 2]) if call == "compute_loss_and_gradients" else (X,)
    with pytest.raises(ValueError, match=r"`X` must hold finite values only, got 2 NaN or infinite values"):
        getattr(small_net(), call)(*args)


def test_a_shape_the_layers_cannot_take_names_the_layer(rng):
    with pytest.raises(ValueError, match="layer `conv1`"):
        small_net().compute_loss_and_gradients(rng.standard_normal((2, 6, 5, 4)), [0, 1])


@pytest.mark.parametrize("factory", [
    lambda dtype: lenet(dtype=dtype, seed=0),
    lambda dtype: lenet(activation="tanh", dtype=dtype, seed=0),
    lambda dtype: vgg(widths=(4, 8), dropout=0.25, dtype=dtype, seed=0),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_factories_build_trainable_models_of_their_dtype(factory, dtype, rng):
    model = factory(dtype)
    X = rng.standard_normal((4, 32, 32, 3)).astype(dtype)
    loss = model.compute_loss_and_gradients(X, rng.integers(0, 10, 4))
    assert 1.0 < loss < 4.0
    assert all(param.grad.dtype == dtype and np.all(np.isfinite(param.grad)) for param in model.params().values())
    assert model.forward(X).dtype == dtype


def test_lenet_layers_and_sizes():
    model = lenet(seed=0)
    assert list(model.layers) == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten1",
                                  "fc1", "relu3", "fc2", "relu4", "fc3"]
    assert model.params()["fc1_W"].value.shape == (400, 120)
    assert model.output_shape((32, 32, 3)) == (10,)
    assert list(lenet(activation="tanh", seed=0).layers)[1] == "tanh1"


def test_vgg_layers_and_sizes():
    model = vgg(seed=0)
    convs = [name for name in model.layers if name.startswith("conv")]
    assert len(convs) == 6 and len([name for name in model.layers if name.startswith("bn")]) == 6
    assert model.params()["conv6_W"].value.shape == (3, 3, 128, 128)
    assert model.params()["fc1_W"].value.shape == (4 * 4 * 128, 10)
    assert model.output_shape((32, 32, 3)) == (10,)


def test_the_same_seed_builds_the_same_model():
    first, second = vgg(widths=(4,), seed=3), vgg(widths=(4,), seed=3)
    for name, param in first.params().items():
        np.testing.assert_array_equal(param.value, second.params()[name].value)


@pytest.mark.parametrize("call, error, match", [
    (lambda: lenet(activation="sigmoid"), ValueError, "`activation` must be one of"),
    (lambda: lenet(input_shape=(8, 8, 3)), ValueError, "`input_shape` height and width must be at least 16"),
    (lambda: vgg(widths=()), ValueError, "`widths` must be a non-empty sequence"),
    (lambda: vgg(widths=(4, 0)), ValueError, "`widths` must be a positive integer"),
    (lambda: vgg(dropout=1.0), ValueError, r"`dropout` must be a probability in \[0, 1\)"),
    (lambda: vgg(input_shape=(4, 4, 3)), ValueError, "at least 8"),
    (lambda: lenet(dtype=np.float16), ValueError, "`dtype` must be float32 or float64"),
])
def test_factories_refuse_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_vgg_checkpoint_round_trips_exactly_with_its_buffers(dtype, tmp_path, rng):
    model = vgg(widths=(4, 8), dropout=0.5, dtype=dtype, seed=0)
    X = rng.standard_normal((6, 32, 32, 3)).astype(dtype)
    for _ in range(3):
        model.compute_loss_and_gradients(X, rng.integers(0, 10, 6))
    save_model(model, tmp_path / "vgg.npz")
    loaded = load_model(tmp_path / "vgg.npz")
    assert isinstance(loaded, Sequential) and list(loaded.layers) == list(model.layers)
    for name, buffer in model.buffers().items():
        np.testing.assert_array_equal(loaded.buffers()[name], buffer)
    np.testing.assert_array_equal(loaded.eval().forward(X), model.eval().forward(X))


def test_a_model_with_a_foreign_layer_cannot_be_described_for_a_checkpoint():
    class Square:
        def forward(self, X):
            return X ** 2

        def backward(self, d_out):
            return d_out

        def params(self):
            return {}

    with pytest.raises(TypeError, match=r"layer `square1` \(Square\) cannot be described"):
        Sequential([Square(), Flattener()]).config()


@pytest.mark.parametrize("layer", [
    ReLULayer(), TanhLayer(), Flattener(), MaxPoolingLayer(3, 2), Dropout(0.3), BatchNormalization(5, momentum=0.2),
    FullyConnectedLayer(7, 3, dtype=np.float32), ConvolutionalLayer(2, 4, 3, 1, stride=2, dtype=np.float32),
], ids=lambda layer: type(layer).__name__)
def test_a_layer_rebuilt_from_its_config_has_the_same_config_and_parameter_shapes(layer):
    rebuilt = type(layer)(**layer.config())
    assert rebuilt.config() == layer.config()
    assert {name: (param.value.shape, param.value.dtype) for name, param in rebuilt.params().items()} == \
        {name: (param.value.shape, param.value.dtype) for name, param in layer.params().items()}


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_convolution_weights_have_variance_gain_over_fan_in(gain):
    layer = ConvolutionalLayer(16, 64, 3, seed=0, gain=gain)
    assert layer.W.value.var() == pytest.approx(gain / (3 * 3 * 16), rel=0.05)


def test_convolution_gain_is_checked():
    with pytest.raises(ValueError, match="`gain` must be a finite number > 0, got 0.0"):
        ConvolutionalLayer(1, 1, 3, gain=0)


def test_input_shape_checks_the_layers_at_once_and_the_inputs_later(rng):
    with pytest.raises(ValueError, match="layer `fc1` cannot take input of shape"):
        Sequential([Flattener(), FullyConnectedLayer(10, 2)], input_shape=(2, 2, 3))
    model = Sequential([Flattener(), FullyConnectedLayer(12, 2)], input_shape=(2, 2, 3))
    with pytest.raises(ValueError, match=r"`X` must have shape \(batch, 2, 2, 3\), got \(1, 2, 3, 2\)"):
        model.predict(rng.standard_normal((1, 2, 3, 2)))


def test_a_saved_lenet_with_its_preprocessing_classifies_raw_images(tmp_path, rng):
    from checkpoint import load_classifier
    model = lenet(dtype=np.float32, seed=0)
    raw = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    mean = (raw / 255).mean(axis=0)
    save_model(model, tmp_path / "lenet.npz", preprocessing={"scale": 1 / 255, "mean_image": mean})
    classifier = load_classifier(tmp_path / "lenet.npz")
    assert classifier.model.dtype == np.float32
    np.testing.assert_array_equal(classifier.predict(raw),
                                  model.predict((raw * np.float32(1 / 255) - mean).astype(np.float32)))
