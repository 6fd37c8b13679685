"""Checks of the learner's model.py.

Only the assignment's contract is used: `ConvNet(input_shape, n_output_classes, conv1_channels, conv2_channels)`
with `params()`, `compute_loss_and_gradients(X, y)` and `predict(X)`. The learner's model may draw from numpy's
global random generator, as the template's does: every check puts that generator's state back as it found it.
"""
import math
from collections import namedtuple

import numpy as np

from selfcheck.base import CheckFailed, Info, assert_close, check, describe, numeric_gradient, on_input
from selfcheck.tools import keeps_global_rng

INPUT_SHAPE = (32, 32, 3)
N_CLASSES = 10
LN_CLASSES = math.log(N_CLASSES)
FILTER = 3  # the contract's 3x3 convolutions
POOLED = 2  # 32 -> pool 4 -> 8 -> pool 4 -> 2 pixels per side before the fully connected layer
# A loss at initialisation above this is far from ln 10: unit-variance weights give 5-90 with 2 and 2 channels.
INIT_LOSS_LIMIT = 2 * LN_CLASSES
INIT_MODELS = 5
GRADIENT_ENTRIES = 4  # entries of each parameter compared with the numeric gradient
PASS_CHANNELS = (2, 3)  # conv1 and conv2 channels of the models whose gradients are checked
OnePass = namedtuple("OnePass", "model X y case params loss grads")


@check("ConvNet.params.all_parameters", needs=("model.ConvNet",),
       description="params() holds the six parameters (conv1 W and B, conv2 W and B, fc W and B) under unique "
                   "names, with the architecture's shapes and each grad shaped like its value")
@keeps_global_rng()
def _convnet_params(modules):
    conv1, conv2 = 2, 4
    model = _convnet(modules, conv1, conv2)
    params = _params(model)
    case = describe(conv1_channels=conv1, conv2_channels=conv2)
    for name, param in params.items():
        if np.shape(param.grad) != np.shape(param.value):
            raise CheckFailed(f"params()[{name!r}].grad has shape {np.shape(param.grad)}, its value "
                              f"{np.shape(param.value)}: every grad must be shaped like its value ({case})")
    objects = {}
    for name, param in params.items():
        if id(param) in objects:
            raise CheckFailed(f"params() lists one parameter twice, as {objects[id(param)]!r} and {name!r} ({case})")
        objects[id(param)] = name
    expected = _expected_shapes(conv1, conv2)
    missing = list(expected)
    extra = []
    fc_rows = None
    for name, param in params.items():
        match = next((wanted for wanted in missing if _shape_fits(param.value, expected[wanted])), None)
        if match is None and "fc W" in missing and _other_fc_inputs(param.value, conv2):
            match, fc_rows = "fc W", np.shape(param.value)[0]
        if match is None:
            extra.append(f"{name!r} {np.shape(param.value)}")
        else:
            missing.remove(match)
    if missing or extra:
        wanted = ", ".join(f"{what} {expected[what]}" for what in missing)
        found = (f"params() holds {len(params)} parameters ({', '.join(map(repr, params))}); expected the six "
                 f"of conv 3x3 -> conv 3x3 -> fc with these shapes; missing: {wanted or 'none'}; unexpected: "
                 f"{', '.join(extra) or 'none'} ({case})")
        if len(params) < len(expected):
            found += "; two layers' parameters under the same name keep only the last one"
        if "fc W" in missing and any(len(np.shape(param.value)) == 2 and np.shape(param.value)[1] == N_CLASSES
                                     for param in params.values()):
            found += (f"; the fully connected layer's inputs must follow conv2_channels ({expected['fc W'][0]} here, "
                      f"{POOLED * POOLED} per channel): compute them from the channels, not a fixed number")
        raise CheckFailed(found)
    if fc_rows is not None:
        return Info(f"the fully connected layer takes {fc_rows} inputs, {fc_rows // conv2} per channel of conv2: "
                    f"the template's architecture (padding 1, max pools 4x4 with stride 4: 32 -> 8 -> 2 pixels) "
                    f"gives {POOLED * POOLED} per channel, so your padding or pooling differ; fine if you chose "
                    f"them ({case})")


@check("ConvNet.compute_loss_and_gradients.gradient", needs=("model.ConvNet",),
       description="the loss is a finite number and every parameter's gradient equals the numeric gradient "
                   "(a sample of entries of each parameter)")
@keeps_global_rng()
def _convnet_gradient(modules):
    rng = np.random.default_rng(1201)
    model, X, y, case, params, _, analytic = _one_pass(modules, rng, labels=[3, 7])
    (conv1, conv2), batch = PASS_CHANNELS, len(y)
    for name, param in params.items():
        value = param.value
        entries = rng.choice(np.size(value), min(GRADIENT_ENTRIES, np.size(value)), replace=False)

        def loss_at(sampled, value=value, entries=entries, param=param):
            perturbed = np.array(value, dtype=np.float64)
            perturbed.flat[entries] = sampled
            param.value = perturbed
            return _loss(model, X, y, case)
        try:
            numeric = numeric_gradient(loss_at, np.asarray(value, dtype=np.float64).flat[entries])
        finally:
            param.value = value
        got = analytic[name].flat[entries]
        for factor, which in ((batch, "the gradient is that of the batch's summed loss, the loss its mean"),
                              (1 / batch, "the loss is the batch's sum, the gradient that of its mean")):
            if not np.allclose(got, numeric, rtol=1e-4, atol=1e-7) and np.allclose(got, factor * numeric,
                                                                                      rtol=1e-4, atol=1e-7):
                raise CheckFailed(f"the gradient of params()[{name!r}] is {factor:g} times the numeric gradient of "
                                  f"your loss (at flat entries {entries.tolist()}): {which} ({case})",
                                  hint="loss_sum_not_mean")
        _compare_sampled(name, _role(value, conv1, conv2), np.shape(value), entries, numeric, got, case)


def _compare_sampled(name, role, shape, entries, numeric, got, case):
    """Fail unless the sampled gradient entries `got` equal `numeric`, naming the parameter (its name, what it is in
    the architecture, its shape) and the worst entry as an index of that shape.

    Parameters
    ----------
    entries : ndarray of shape (samples,)
        Flat indices into the parameter of shape `shape`.
    numeric, got : ndarray of shape (samples,)
    """
    error = np.abs(got - numeric)
    bad = ~(error <= 1e-7 + 1e-4 * np.abs(numeric))  # NaN counts as bad
    if bad.any():
        worst = int(np.argmax(np.where(np.isnan(error), np.inf, error)))
        where = tuple(int(i) for i in np.unravel_index(entries[worst], shape))
        raise CheckFailed(f"the gradient of params()[{name!r}] ({role + ', ' if role else ''}shape {shape}) differs "
                          f"from the numeric gradient at {int(bad.sum())} of the {len(entries)} entries sampled, the "
                          f"largest at entry {where}: expected {numeric[worst]:.6g}, got {got[worst]:.6g} "
                          f"(input: {case})")


def _role(value, conv1, conv2):
    """What the parameter of this value's shape is in the contract's architecture ("conv1 W", ...), or None."""
    return next((what for what, shape in _expected_shapes(conv1, conv2).items() if _shape_fits(value, shape)), None)


@check("ConvNet.compute_loss_and_gradients.grads_zeroed", needs=("model.ConvNet",),
       description="a second call on the same batch gives the same loss and gradients (grads zeroed before "
                   "each pass)")
@keeps_global_rng()
def _convnet_grads_zeroed(modules):
    model, X, y, case, params, first_loss, first = _one_pass(modules, np.random.default_rng(1202), labels=[1, 8])
    second_loss = _loss(model, X, y, case)
    if not math.isclose(first_loss, second_loss, rel_tol=1e-9, abs_tol=1e-12):
        raise CheckFailed(f"two calls on the same batch gave the losses {first_loss:.6g} and {second_loss:.6g}; "
                          f"expected the same loss ({case})")
    for name, param in params.items():
        second = _grad_copy(name, param, case)
        if np.allclose(second, 2 * first[name], rtol=1e-6, atol=1e-12) and np.any(first[name] != 0):
            raise CheckFailed(f"after a second call on the same batch params()[{name!r}].grad is twice the first "
                              f"call's ({case})", hint="grads_not_zeroed")
        assert_close(f"params()[{name!r}].grad after a second call on the same batch", first[name], second, case,
                     rtol=1e-6, atol=1e-12)


@check("ConvNet.init.initial_loss", needs=("model.ConvNet",),
       description=f"the loss of freshly made models (8 and 8 channels) on random mean-subtracted images is near "
                   f"ln 10 = {LN_CLASSES:.2f}, at most {INIT_LOSS_LIMIT:.2f} (median of {INIT_MODELS} models)")
@keeps_global_rng()
def _convnet_initial_loss(modules):
    # 8 channels, not the notebook's 2: with 2, unit-variance convolutions gave a median loss under the limit in
    # 2.5% of the draws; with 8, never in 40 (12.9 at the 5th percentile), while He-scaled ones stay at 2.45-2.7.
    conv1, conv2, batch = 8, 8, 16
    rng = np.random.default_rng(1203)
    X, y = _images(rng, batch), rng.integers(0, N_CLASSES, batch)
    case = describe(batch=batch, conv1_channels=conv1, conv2_channels=conv2, pixels="uniform in [-0.5, 0.5)")
    models = [_convnet(modules, conv1, conv2) for _ in range(INIT_MODELS)]
    losses = [_loss(model, X, y, case) for model in models]
    median = float(np.median(losses))
    # A summed loss doubles on the batch given twice, a mean stays: that tells a sum from weights too large.
    doubled = _loss(models[0], np.concatenate([X, X]), np.concatenate([y, y]), case)
    if median > INIT_LOSS_LIMIT and np.isclose(doubled, 2 * losses[0], rtol=1e-6):
        raise CheckFailed(f"the median loss of {INIT_MODELS} freshly made models is {median:.3g}, and a model's loss "
                          f"doubles ({losses[0]:.3g} -> {doubled:.3g}) when the batch is given twice: the loss is the "
                          f"sum over the batch, expected the mean, near ln 10 = {LN_CLASSES:.2f} ({case})",
                          hint="loss_sum_not_mean")
    if median > INIT_LOSS_LIMIT:
        raise CheckFailed(f"the median loss of {INIT_MODELS} freshly made models is {median:.3g} (losses "
                          f"{', '.join(f'{loss:.3g}' for loss in losses)}); expected near ln 10 = {LN_CLASSES:.2f}, "
                          f"at most {INIT_LOSS_LIMIT:.2f} ({case})", hint="init_scale")


@check("ConvNet.init.n_output_classes", needs=("model.ConvNet",),
       description="ConvNet(n_output_classes=7) scores 7 classes: a fully connected weight of 7 outputs, predict's "
                   "classes in [0, 7)")
@keeps_global_rng()
def _convnet_n_output_classes(modules):
    n_classes, conv1, conv2, batch = 7, 2, 2, 16
    model = modules.model.ConvNet(input_shape=INPUT_SHAPE, n_output_classes=n_classes, conv1_channels=conv1,
                                  conv2_channels=conv2)
    case = describe(n_output_classes=n_classes, conv1_channels=conv1, conv2_channels=conv2)
    shapes = {name: np.shape(param.value) for name, param in _params(model).items()}
    if not any(len(shape) == 2 and shape[1] == n_classes for shape in shapes.values()):
        raise CheckFailed(f"params() holds no weight of shape (n_input, {n_classes}): the fully connected layer must "
                          f"have n_output_classes outputs, got {shapes} ({case})")
    predictions = np.asarray(model.predict(_images(np.random.default_rng(1206), batch)))
    if predictions.shape != (batch,) or predictions.min() < 0 or predictions.max() >= n_classes:
        raise CheckFailed(f"predict must give classes in [0, {n_classes}), got {predictions.tolist()} ({case})")


@check("ConvNet.predict.classes", needs=("model.ConvNet",),
       description="predict(X) returns (batch,) integer classes in [0, 10)")
@keeps_global_rng()
def _convnet_predict_classes(modules):
    _predictions(*_model_and_images(modules, 2, 2, np.random.default_rng(1204), batch=5))


@check("ConvNet.predict.lowest_loss", needs=("model.ConvNet",),
       description="the class predict() gives each image is the label with the lowest loss (argmax of the scores)")
@keeps_global_rng()
def _convnet_predict_lowest_loss(modules):
    model, X, case = _model_and_images(modules, 2, 3, np.random.default_rng(1205), batch=3)
    predictions = _predictions(model, X, case)
    for index in range(len(X)):
        losses = np.array([_loss(model, X[index:index + 1], np.array([label]), case) for label in range(N_CLASSES)])
        predicted = int(predictions[index])
        if losses[predicted] > losses.min() + 1e-9 * max(1.0, abs(losses.min())):
            raise CheckFailed(f"predict() gave class {predicted} to image {index}, whose loss with label {predicted} "
                              f"is {losses[predicted]:.6g}; label {int(losses.argmin())} has the lowest loss, "
                              f"{losses.min():.6g}: predict must return the argmax of the scores ({case})")


def _convnet(modules, conv1_channels, conv2_channels):
    """The learner's ConvNet for 32x32x3 images and 10 classes, made as the notebook makes it."""
    return modules.model.ConvNet(input_shape=INPUT_SHAPE, n_output_classes=N_CLASSES,
                                 conv1_channels=conv1_channels, conv2_channels=conv2_channels)


def _one_pass(modules, rng, labels):
    """A ConvNet of PASS_CHANNELS after one compute_loss_and_gradients on a batch of images drawn from `rng`.

    Returns
    -------
    OnePass
        X of shape (batch, 32, 32, 3), y = labels of shape (batch,), params the checked params(), loss a float,
        grads {name: float64 copy of params()[name].grad}.
    """
    model, X, case = _model_and_images(modules, *PASS_CHANNELS, rng, len(labels))
    y = np.array(labels)
    params = _params(model)
    loss = _loss(model, X, y, case)
    grads = {name: _grad_copy(name, param, case) for name, param in params.items()}
    return OnePass(model, X, y, case, params, loss, grads)


def _model_and_images(modules, conv1_channels, conv2_channels, rng, batch):
    """The learner's ConvNet of these channels, `batch` images drawn from `rng` (batch, 32, 32, 3), and the text
    that describes them in messages."""
    model = _convnet(modules, conv1_channels, conv2_channels)
    case = describe(batch=batch, conv1_channels=conv1_channels, conv2_channels=conv2_channels)
    return model, _images(rng, batch), case


def _images(rng, batch):
    """Random images like the notebook's (scaled to [0, 1], mean subtracted): (batch, 32, 32, 3) in [-0.5, 0.5)."""
    return rng.uniform(-0.5, 0.5, (batch, *INPUT_SHAPE))


def _expected_shapes(conv1, conv2):
    """The shape of each parameter of the contract's ConvNet, by what it is."""
    return {"conv1 W": (FILTER, FILTER, INPUT_SHAPE[2], conv1), "conv1 B": (conv1,),
            "conv2 W": (FILTER, FILTER, conv1, conv2), "conv2 B": (conv2,),
            "fc W": (POOLED * POOLED * conv2, N_CLASSES), "fc B": (1, N_CLASSES)}


def _other_fc_inputs(value, conv2):
    """Whether `value` is an fc weight of another padding or pooling: (k * k * conv2, 10) for some k >= 1."""
    shape = np.shape(value)
    if len(shape) != 2 or shape[1] != N_CLASSES or shape[0] % conv2:
        return False
    side = round((shape[0] // conv2) ** 0.5)
    return side >= 1 and side * side * conv2 == shape[0]


def _shape_fits(value, shape):
    """Weights must have their exact shape; a bias may carry extra axes of length 1 ((F,) or (1, F) alike)."""
    if len(shape) > 1 and shape[0] != 1:
        return np.shape(value) == shape
    return np.size(value) == shape[-1] and max(np.shape(value), default=0) == shape[-1]


def _params(model):
    """model.params(), checked to be a dict of objects with ndarray .value and .grad."""
    params = model.params()
    if not isinstance(params, dict):
        raise CheckFailed(f"params() returned {type(params).__name__}; expected a dict of name -> Param")
    for name, param in params.items():
        if param is None:
            raise CheckFailed(f"params()[{name!r}] is None on a newly made model: params() must give the Param "
                              f"objects from __init__ on, before any compute_loss_and_gradients")
        for attribute in ("value", "grad"):
            if not isinstance(getattr(param, attribute, None), np.ndarray):
                raise CheckFailed(f"params()[{name!r}] has no ndarray .{attribute}; expected a Param with .value "
                                  f"and .grad arrays")
    return params


def _grad_copy(name, param, case):
    """A float64 copy of param.grad, checked to be shaped like param.value."""
    if np.shape(param.grad) != np.shape(param.value):
        raise CheckFailed(f"params()[{name!r}].grad has shape {np.shape(param.grad)}, its value "
                          f"{np.shape(param.value)} ({case})")
    return np.array(param.grad, dtype=np.float64)


def _loss(model, X, y, case):
    """model.compute_loss_and_gradients(X, y), checked to be one finite number."""
    with on_input(case):
        loss = model.compute_loss_and_gradients(X, y)
    if np.ndim(loss) != 0 or not np.issubdtype(np.asarray(loss).dtype, np.number):
        raise CheckFailed(f"compute_loss_and_gradients returned {type(loss).__name__} of shape {np.shape(loss)}; "
                          f"expected one number, the batch's mean loss ({case})")
    loss = float(np.real(loss))
    if not math.isfinite(loss):
        raise CheckFailed(f"compute_loss_and_gradients returned {loss}; expected a finite loss ({case})")
    return loss


def _predictions(model, X, case):
    """model.predict(X), checked to be (batch,) integers in [0, 10)."""
    with on_input(case):
        got = model.predict(X)
    predictions = np.asarray(got)
    if predictions.shape != (X.shape[0],) or not np.issubdtype(predictions.dtype, np.integer):
        raise CheckFailed(f"predict returned {type(got).__name__} of shape {predictions.shape} and dtype "
                          f"{predictions.dtype}; expected ({X.shape[0]},) integer classes ({case})")
    if predictions.min() < 0 or predictions.max() >= N_CLASSES:
        raise CheckFailed(f"predict returned classes {predictions.tolist()}; expected classes in [0, {N_CLASSES}) "
                          f"({case})")
    return predictions
