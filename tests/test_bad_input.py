"""Bad input (issue 2, "Bad input"): a TypeError or ValueError that names the argument, raised before any state
changes. Every case is one line; the message is pinned with `match=` on the argument name (and, where natural, on
what came), and the object's whole state (parameters, gradients, cached forward results) is compared with a copy
taken before the call.
"""
import copy

import numpy as np
import pytest

from layers import (
    ConvolutionalLayer,
    Flattener,
    FullyConnectedLayer,
    MaxPoolingLayer,
    ReLULayer,
    l2_regularization,
    softmax_with_cross_entropy,
)
from model import ConvNet

IMAGES = np.random.default_rng(0).standard_normal((2, 4, 4, 2))  # (batch, height, width, channels)
ROWS = np.random.default_rng(1).standard_normal((2, 3))  # (batch, n_input)
MODEL_X = np.random.default_rng(2).uniform(-0.5, 0.5, size=(2, 16, 16, 3))
MODEL_Y = np.array([1, 9])


def used(layer, X):
    """`layer` after a successful forward and backward pass on X: it has state worth protecting."""
    out = layer.forward(X)
    layer.backward(np.ones_like(out))
    return layer


def cast_param(layer, name, dtype):
    """`layer` with the value of its parameter `name` replaced by a copy in `dtype`, as the notebook replaces values."""
    param = layer.params()[name]
    param.value = param.value.astype(dtype)
    return layer


def conv(**kwargs):
    return ConvolutionalLayer(2, 3, 3, 1, seed=0, **kwargs)


def fc():
    return FullyConnectedLayer(3, 4, seed=0)


def model():
    net = ConvNet((16, 16, 3), 10, 2, 2, seed=0)
    net.compute_loss_and_gradients(MODEL_X, MODEL_Y)
    return net


def assert_same_state(actual, expected, where="state"):
    """Recursive equality of two objects' attributes, arrays compared exactly (values, shape and dtype)."""
    if isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(actual, expected, strict=True, err_msg=where)
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys(), where
        for key in expected:
            assert_same_state(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert type(actual) is type(expected) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same_state(a, e, f"{where}[{i}]")
    elif hasattr(expected, "__dict__") and not isinstance(expected, type):
        assert type(actual) is type(expected), where
        assert_same_state(vars(actual), vars(expected), f"{where}.")
    else:
        assert actual == expected, where


def assert_refused(subject, bad_call, error, match):
    """`bad_call(subject)` raises `error` matching `match`, and `subject` is exactly as it was before."""
    before = copy.deepcopy(subject)
    with pytest.raises(error, match=match):
        bad_call(subject)
    assert_same_state(subject, before)


@pytest.mark.parametrize("make, error, match", [
    pytest.param(lambda: ConvolutionalLayer(2, 3, 0, 1), ValueError, r"filter_size.*\b0\b", id="conv-filter-0"),
    pytest.param(lambda: ConvolutionalLayer(2, 3, -3, 1), ValueError, r"filter_size.*-3", id="conv-filter-negative"),
    pytest.param(lambda: ConvolutionalLayer(2, 3, 2.5, 1), TypeError, r"filter_size.*2\.5", id="conv-filter-float"),
    pytest.param(lambda: ConvolutionalLayer(2, 3, "3", 1), TypeError, r"filter_size", id="conv-filter-str"),
    pytest.param(lambda: ConvolutionalLayer(2, 3, 3, -1), ValueError, r"padding.*-1", id="conv-padding-negative"),
    pytest.param(lambda: ConvolutionalLayer(2, 3, 3, 0.5), TypeError, r"padding.*0\.5", id="conv-padding-float"),
    pytest.param(lambda: ConvolutionalLayer(2, 3, 3, 1, stride=0), ValueError, r"stride.*\b0\b", id="conv-stride-0"),
    pytest.param(lambda: ConvolutionalLayer(2, 3, 3, 1, stride=-2), ValueError, r"stride.*-2", id="conv-stride-neg"),
    pytest.param(lambda: ConvolutionalLayer(2, 3, 3, 1, stride=1.5), TypeError, r"stride.*1\.5",
                 id="conv-stride-float"),
    pytest.param(lambda: ConvolutionalLayer(0, 3, 3, 1), ValueError, r"in_channels.*\b0\b", id="conv-in-channels-0"),
    pytest.param(lambda: ConvolutionalLayer(2, 0, 3, 1), ValueError, r"out_channels.*\b0\b", id="conv-out-channels-0"),
    pytest.param(lambda: MaxPoolingLayer(0, 2), ValueError, r"pool_size.*\b0\b", id="pool-size-0"),
    pytest.param(lambda: MaxPoolingLayer(-2, 2), ValueError, r"pool_size.*-2", id="pool-size-negative"),
    pytest.param(lambda: MaxPoolingLayer(2.5, 2), TypeError, r"pool_size.*2\.5", id="pool-size-float"),
    pytest.param(lambda: MaxPoolingLayer(2, 0), ValueError, r"stride.*\b0\b", id="pool-stride-0"),
    pytest.param(lambda: MaxPoolingLayer(2, 1.5), TypeError, r"stride.*1\.5", id="pool-stride-float"),
    pytest.param(lambda: FullyConnectedLayer(0, 4), ValueError, r"n_input.*\b0\b", id="fc-n-input-0"),
    pytest.param(lambda: FullyConnectedLayer(3, 2.0), TypeError, r"n_output", id="fc-n-output-float"),
])
def test_constructor_refuses(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("make, bad_call, error, match", [
    # Input that is not 4-D for conv, pool and flatten.
    pytest.param(lambda: used(conv(), IMAGES), lambda layer: layer.forward(IMAGES[0]), ValueError,
                 r"\bX\b.*\(4, 4, 2\)", id="conv-3d"),
    pytest.param(lambda: used(conv(), IMAGES), lambda layer: layer.forward(IMAGES[None]), ValueError,
                 r"\bX\b.*\(1, 2, 4, 4, 2\)", id="conv-5d"),
    pytest.param(lambda: used(MaxPoolingLayer(2, 2), IMAGES), lambda layer: layer.forward(IMAGES[0]), ValueError,
                 r"\bX\b.*\(4, 4, 2\)", id="pool-3d"),
    pytest.param(lambda: used(Flattener(), IMAGES), lambda layer: layer.forward(ROWS), ValueError,
                 r"\bX\b.*\(2, 3\)", id="flatten-2d"),
    # A channel count other than in_channels.
    pytest.param(lambda: used(conv(), IMAGES), lambda layer: layer.forward(np.zeros((2, 4, 4, 3))), ValueError,
                 r"\bX\b.*channels", id="conv-channels"),
    # A filter or pool window larger than the (padded) input.
    pytest.param(lambda: used(ConvolutionalLayer(2, 3, 5, 0, seed=0), np.zeros((1, 5, 6, 2))),
                 lambda layer: layer.forward(IMAGES), ValueError, r"filter_size.*\b5\b", id="conv-filter-too-large"),
    pytest.param(lambda: used(ConvolutionalLayer(2, 3, 7, 1, seed=0), np.zeros((1, 5, 5, 2))),
                 lambda layer: layer.forward(IMAGES), ValueError, r"filter_size.*\b7\b",
                 id="conv-filter-too-large-padded"),
    pytest.param(lambda: used(MaxPoolingLayer(3, 1), IMAGES), lambda layer: layer.forward(IMAGES[:, :2]),
                 ValueError, r"pool_size.*\b3\b", id="pool-window-too-large"),
    # Integer or object arrays where floats are needed.
    pytest.param(lambda: used(conv(), IMAGES), lambda layer: layer.forward(np.ones((2, 4, 4, 2), dtype=np.uint8)),
                 TypeError, r"\bX\b.*uint8", id="conv-uint8"),
    pytest.param(lambda: used(conv(), IMAGES), lambda layer: layer.forward(IMAGES.astype(object)), TypeError,
                 r"\bX\b.*object", id="conv-object"),
    pytest.param(lambda: used(MaxPoolingLayer(2, 2), IMAGES),
                 lambda layer: layer.forward(np.ones((2, 4, 4, 2), dtype=np.int64)), TypeError, r"\bX\b.*int64",
                 id="pool-int"),
    pytest.param(lambda: used(Flattener(), IMAGES), lambda layer: layer.forward(np.ones((2, 4, 4, 2), dtype=int)),
                 TypeError, r"\bX\b.*int", id="flatten-int"),
    pytest.param(lambda: used(ReLULayer(), IMAGES), lambda layer: layer.forward(np.ones((2, 3), dtype=np.int32)),
                 TypeError, r"\bX\b.*int32", id="relu-int"),
    pytest.param(lambda: used(fc(), ROWS), lambda layer: layer.forward(np.ones((2, 3), dtype=int)), TypeError,
                 r"\bX\b.*int", id="fc-int"),
    pytest.param(lambda: used(fc(), ROWS), lambda layer: layer.forward(ROWS.astype(object)), TypeError,
                 r"\bX\b.*object", id="fc-object"),
    pytest.param(lambda: used(conv(), IMAGES), lambda layer: layer.backward(np.ones((2, 4, 4, 3), dtype=int)),
                 TypeError, r"d_out.*int", id="conv-d-out-int"),
    pytest.param(model, lambda net: net.compute_loss_and_gradients((MODEL_X * 255).astype(np.uint8), MODEL_Y),
                 TypeError, r"\bX\b.*uint8", id="model-uint8"),
    pytest.param(model, lambda net: net.predict((MODEL_X * 255).astype(np.uint8)), TypeError, r"\bX\b.*uint8",
                 id="model-predict-uint8"),
    # Labels outside [0, n_classes) or of the wrong length.
    pytest.param(model, lambda net: net.compute_loss_and_gradients(MODEL_X, np.array([1, 10])), ValueError,
                 r"\by\b.*10", id="model-label-too-large"),
    pytest.param(model, lambda net: net.compute_loss_and_gradients(MODEL_X, np.array([-1, 3])), ValueError,
                 r"\by\b.*-1", id="model-label-negative"),
    pytest.param(model, lambda net: net.compute_loss_and_gradients(MODEL_X, np.array([1, 2, 3])), ValueError,
                 r"\by\b.*\b3\b", id="model-labels-too-many"),
    pytest.param(model, lambda net: net.compute_loss_and_gradients(MODEL_X, np.array([1])), ValueError,
                 r"\by\b", id="model-labels-too-few"),
    pytest.param(model, lambda net: net.compute_loss_and_gradients(MODEL_X[:, :15], MODEL_Y), ValueError,
                 r"\bX\b.*\(2, 15, 16, 3\)", id="model-X-wrong-shape"),
    # backward before forward.
    pytest.param(conv, lambda layer: layer.backward(np.ones((2, 4, 4, 3))), ValueError, r"forward",
                 id="conv-backward-first"),
    pytest.param(lambda: MaxPoolingLayer(2, 2), lambda layer: layer.backward(np.ones((2, 2, 2, 2))), ValueError,
                 r"forward", id="pool-backward-first"),
    pytest.param(ReLULayer, lambda layer: layer.backward(np.ones((2, 3))), ValueError, r"forward",
                 id="relu-backward-first"),
    pytest.param(fc, lambda layer: layer.backward(np.ones((2, 4))), ValueError, r"forward", id="fc-backward-first"),
    pytest.param(Flattener, lambda layer: layer.backward(np.ones((2, 32))), ValueError, r"forward",
                 id="flatten-backward-first"),
    # backward with a gradient of the wrong shape.
    pytest.param(lambda: used(conv(), IMAGES), lambda layer: layer.backward(np.ones((2, 4, 4, 2))), ValueError,
                 r"d_out.*\(2, 4, 4, 2\)", id="conv-d-out-shape"),
    pytest.param(lambda: used(conv(stride=2), IMAGES), lambda layer: layer.backward(np.ones((2, 4, 4, 3))),
                 ValueError, r"d_out.*\(2, 4, 4, 3\)", id="conv-strided-d-out-shape"),
    pytest.param(lambda: used(MaxPoolingLayer(2, 2), IMAGES), lambda layer: layer.backward(np.ones((2, 2, 2, 1))),
                 ValueError, r"d_out.*\(2, 2, 2, 1\)", id="pool-d-out-shape"),
    pytest.param(lambda: used(MaxPoolingLayer(2, 2), IMAGES), lambda layer: layer.backward(np.ones((2, 4, 4, 2))),
                 ValueError, r"d_out.*\(2, 4, 4, 2\)", id="pool-d-out-input-shape"),
    pytest.param(lambda: used(ReLULayer(), IMAGES), lambda layer: layer.backward(np.ones((2, 4, 4))), ValueError,
                 r"d_out.*\(2, 4, 4\)", id="relu-d-out-shape"),
    pytest.param(lambda: used(fc(), ROWS), lambda layer: layer.backward(np.ones((2, 3))), ValueError,
                 r"d_out.*\(2, 3\)", id="fc-d-out-shape"),
    pytest.param(lambda: used(fc(), ROWS), lambda layer: layer.backward(np.ones((3, 4))), ValueError,
                 r"d_out.*\(3, 4\)", id="fc-d-out-batch"),
    pytest.param(lambda: used(Flattener(), IMAGES), lambda layer: layer.backward(np.ones((2, 16))), ValueError,
                 r"d_out.*\(2, 16\)", id="flatten-d-out-shape"),
    # FullyConnectedLayer input of the wrong width.
    pytest.param(lambda: used(fc(), ROWS), lambda layer: layer.forward(np.ones((2, 5))), ValueError,
                 r"\bX\b.*\(2, 5\)", id="fc-width"),
    pytest.param(lambda: used(fc(), ROWS), lambda layer: layer.forward(np.ones(3)), ValueError, r"\bX\b",
                 id="fc-1d"),
    # float16 and the other float dtypes: only float32 and float64 are computed in (issue 9, item 12).
    *[pytest.param(make, lambda layer, X=X: layer.forward(X.astype(np.float16)), TypeError,
                   r"`X` must be an array of floats \(float32 or float64\), got dtype float16", id=f"{name}-float16")
      for name, make, X in [("conv", lambda: used(conv(), IMAGES), IMAGES), ("relu", ReLULayer, IMAGES),
                            ("relu-used", lambda: used(ReLULayer(), IMAGES), IMAGES),
                            ("pool", lambda: used(MaxPoolingLayer(2, 2), IMAGES), IMAGES),
                            ("flatten", lambda: used(Flattener(), IMAGES), IMAGES),
                            ("fc", lambda: used(fc(), ROWS), ROWS)]],
    *[pytest.param(make, lambda layer, shape=shape: layer.backward(np.ones(shape, dtype=np.float16)), TypeError,
                   r"`d_out` must be an array of floats \(float32 or float64\), got dtype float16",
                   id=f"{name}-d-out-float16")
      for name, make, shape in [("conv", lambda: used(conv(), IMAGES), (2, 4, 4, 3)),
                                ("relu", lambda: used(ReLULayer(), IMAGES), IMAGES.shape),
                                ("pool", lambda: used(MaxPoolingLayer(2, 2), IMAGES), (2, 2, 2, 2)),
                                ("flatten", lambda: used(Flattener(), IMAGES), (2, 32)),
                                ("fc", lambda: used(fc(), ROWS), (2, 4))]],
    pytest.param(lambda: cast_param(used(conv(), IMAGES), "W", np.float16), lambda layer: layer.forward(IMAGES),
                 TypeError, r"`W\.value` must be an array of floats \(float32 or float64\), got dtype float16",
                 id="conv-W-float16"),
    pytest.param(lambda: cast_param(used(fc(), ROWS), "B", np.float16), lambda layer: layer.forward(ROWS), TypeError,
                 r"`B\.value` must be an array of floats \(float32 or float64\), got dtype float16", id="fc-B-float16"),
    pytest.param(lambda: used(ReLULayer(), IMAGES), lambda layer: layer.forward(IMAGES.astype(np.complex128)),
                 TypeError, r"`X` .*complex128", id="relu-complex"),
    # output_shape: the shape of one sample, without the batch axis (issue 9, item 21).
    pytest.param(conv, lambda layer: layer.output_shape((2, 4, 4, 2)), ValueError,
                 r"`input_shape` must be the shape of one sample, \(height, width, in_channels\) without the batch "
                 r"axis, got \(2, 4, 4, 2\)", id="conv-shape-with-batch"),
    pytest.param(conv, lambda layer: layer.output_shape((4, 4, 3)), ValueError,
                 r"`input_shape` must end with the layer's 2 input channels, got 3 \(input_shape \(4, 4, 3\)\)",
                 id="conv-shape-channels"),
    pytest.param(lambda: ConvolutionalLayer(2, 3, 5, 0), lambda layer: layer.output_shape((4, 6, 2)), ValueError,
                 r"`input_shape` \(4, 6, 2\) is too small: `filter_size` 5 is larger than the padded input",
                 id="conv-shape-too-small"),
    pytest.param(conv, lambda layer: layer.output_shape((4, 0, 2)), ValueError,
                 r"`input_shape` must hold sizes >= 1, got \(4, 0, 2\)", id="conv-shape-zero"),
    pytest.param(conv, lambda layer: layer.output_shape((4.0, 4, 2)), TypeError,
                 r"`input_shape` must hold integers, got \(4\.0, 4, 2\)", id="conv-shape-float"),
    pytest.param(conv, lambda layer: layer.output_shape(np.zeros((4, 4, 2))), TypeError,
                 r"`input_shape` must be a tuple of ints, got ndarray", id="conv-shape-array"),
    pytest.param(lambda: used(MaxPoolingLayer(3, 1), IMAGES), lambda layer: layer.output_shape((2, 4, 2)),
                 ValueError, r"`input_shape` \(2, 4, 2\) is too small: `pool_size` 3 is larger than the input",
                 id="pool-shape-too-small"),
    pytest.param(lambda: MaxPoolingLayer(2, 2), lambda layer: layer.output_shape((4, 4)), ValueError,
                 r"`input_shape` must be the shape of one sample, \(height, width, channels\) without the batch",
                 id="pool-shape-rank"),
    pytest.param(lambda: used(fc(), ROWS), lambda layer: layer.output_shape((5,)), ValueError,
                 r"`input_shape` must be \(3,\), the layer's n_input, got \(5,\)", id="fc-shape-width"),
    pytest.param(fc, lambda layer: layer.output_shape((2, 3)), ValueError,
                 r"`input_shape` must be the shape of one sample, \(n_input,\) without the batch axis, got \(2, 3\)",
                 id="fc-shape-with-batch"),
    pytest.param(fc, lambda layer: layer.output_shape(3), TypeError, r"`input_shape` must be a tuple of ints, got int",
                 id="fc-shape-int"),
    pytest.param(Flattener, lambda layer: layer.output_shape((2, 4, 4, 2)), ValueError,
                 r"`input_shape` must be the shape of one sample, \(height, width, channels\) without the batch",
                 id="flatten-shape-with-batch"),
    pytest.param(ReLULayer, lambda layer: layer.output_shape("2, 3"), TypeError,
                 r"`input_shape` must be a tuple of ints, got str", id="relu-shape-str"),
    pytest.param(ReLULayer, lambda layer: layer.output_shape((2, -3)), ValueError,
                 r"`input_shape` must hold sizes >= 1, got \(2, -3\)", id="relu-shape-negative"),
])
def test_refused_without_state_change(make, bad_call, error, match):
    assert_refused(make(), bad_call, error, match)


@pytest.mark.parametrize("call, error, match", [
    pytest.param(lambda p: softmax_with_cross_entropy(p, np.array([0, 3])), ValueError, r"target_index.*\b3\b",
                 id="target-too-large"),
    pytest.param(lambda p: softmax_with_cross_entropy(p, np.array([-1, 0])), ValueError, r"target_index.*-1",
                 id="target-negative"),
    pytest.param(lambda p: softmax_with_cross_entropy(p, np.array([0, 1, 2])), ValueError, r"target_index",
                 id="targets-too-many"),
    pytest.param(lambda p: softmax_with_cross_entropy(p, 1), ValueError, r"target_index", id="int-target-for-batch"),
    pytest.param(lambda p: softmax_with_cross_entropy(p[0], 3), ValueError, r"target_index.*\b3\b",
                 id="1d-target-too-large"),
    pytest.param(lambda p: softmax_with_cross_entropy(p, np.array([[0, 1], [1, 0]])), ValueError, r"target_index",
                 id="target-2d"),
    pytest.param(lambda p: softmax_with_cross_entropy(p, np.array([0.5, 1.0])), TypeError, r"target_index",
                 id="target-fractional"),
    pytest.param(lambda p: softmax_with_cross_entropy(np.ones((2, 3), dtype=int), np.array([0, 1])), TypeError,
                 r"predictions.*int", id="predictions-int"),
    pytest.param(lambda p: softmax_with_cross_entropy(p[None], np.array([0, 1])), ValueError, r"predictions",
                 id="predictions-3d"),
    pytest.param(lambda p: l2_regularization(np.ones((2, 2), dtype=int), 0.1), TypeError, r"\bW\b.*int",
                 id="l2-W-int"),
    pytest.param(lambda p: l2_regularization(p, -0.1), ValueError, r"reg_strength.*-0\.1", id="l2-negative"),
    pytest.param(lambda p: l2_regularization(p.astype(np.float16), 0.1), TypeError,
                 r"`W` must be an array of floats \(float32 or float64\), got dtype float16", id="l2-W-float16"),
    pytest.param(lambda p: softmax_with_cross_entropy(p.astype(np.float16), np.array([0, 1])), TypeError,
                 r"`predictions` must be an array of floats \(float32 or float64\), got dtype float16",
                 id="predictions-float16"),
])
def test_functions_refuse(call, error, match):
    predictions = np.random.default_rng(3).standard_normal((2, 3))
    before = predictions.copy()
    with pytest.raises(error, match=match):
        call(predictions)
    np.testing.assert_array_equal(predictions, before, strict=True)


def test_an_empty_batch_is_refused_before_anything_changes():
    model = ConvNet((16, 16, 3), 10, 2, 2, seed=0)
    before = {name: param.grad.copy() for name, param in model.params().items()}
    with pytest.raises(ValueError, match="`X` must hold at least one sample"):
        model.compute_loss_and_gradients(np.zeros((0, 16, 16, 3)), np.zeros(0, dtype=int))
    for name, param in model.params().items():
        np.testing.assert_array_equal(param.grad, before[name])
    with pytest.raises(ValueError, match="`predictions` must have shape"):
        softmax_with_cross_entropy(np.zeros((0, 10)), np.zeros(0, dtype=int))
    assert model.predict(np.zeros((0, 16, 16, 3))).shape == (0,)


# Dataset refuses labels that Trainer cannot use, naming them, instead of fit() failing later on an inner name.

def dataset_with(train_y=None, val_y=None):
    from trainer import Dataset
    X = np.zeros((4, 2, 2, 1))
    return Dataset(X, np.array([0, 1, 2, 1]) if train_y is None else train_y,
                   X, np.array([1, 0, 0, 2]) if val_y is None else val_y)


@pytest.mark.parametrize("labels, error, match", [
    (np.eye(4, 3, dtype=np.int64), ValueError, r"`train_y` must be 1-D \(n_samples,\) class indices, got shape "
                                               r"\(4, 3\).*argmax\(axis=1\)"),
    (np.array([[0], [1], [2], [1]]), ValueError, r"`train_y` must be 1-D.*got shape \(4, 1\).*ravel\(\)"),
    (np.array([0.0, 1.0, 2.0, 1.0]), TypeError, r"`train_y` must hold integer class indices, got dtype float64.*"
                                                r"astype\(int\)"),
    (np.array([0.5, 1.0, 2.0, 1.0]), TypeError, r"`train_y` must hold integer class indices, got dtype float64"),
    (np.array([True, False, True, True]), TypeError, r"`train_y` must hold integer class indices, got dtype bool"),
    (np.array(["0", "1", "2", "1"]), TypeError, r"`train_y` must hold integer class indices"),
    (np.array([0, -1, 2, 1]), ValueError, r"`train_y` must hold class indices >= 0, got -1"),
])
def test_dataset_refuses_labels_it_cannot_use(labels, error, match):
    with pytest.raises(error, match=match):
        dataset_with(train_y=labels)
    with pytest.raises(error, match=match.replace("train_y", "val_y")):
        dataset_with(val_y=labels)


def test_dataset_keeps_integer_labels_of_any_integer_dtype():
    dataset = dataset_with(train_y=np.array([0, 1, 2, 1], dtype=np.uint8))
    assert dataset.train_y.dtype == np.uint8 and dataset.val_y.dtype.kind == "i"
