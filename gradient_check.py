"""Numeric gradient checks: central differences compared with analytic gradients.

Each check returns True or False and prints either a pass line or the first mismatch (its index and both values).
The checked array and the parameters are left exactly as they were, gradients included. Run the checks in float64:
float32 has too few digits for finite differences.
"""
import numpy as np

from validation import check_float_array, check_number

_OUTPUT_WEIGHT_SEED = 0


def check_gradient(f, x, delta=1e-5, tol=1e-4):
    """Compare the analytic gradient of `f` at `x` with central differences.

    Parameters
    ----------
    f : callable
        `f(x) -> (value, grad)`: a scalar and its gradient, an ndarray shaped like `x`.
    x : ndarray of any shape, float32 or float64
        The point; perturbed in place one element at a time and restored.
    delta : float
        Step of the central difference `(f(x + delta) - f(x - delta)) / (2 * delta)`.
    tol : float
        An element passes when `|analytic - numeric| <= max(tol * max(|analytic|, |numeric|, scale), noise)`:
        `scale` is the largest magnitude in either gradient, so that large entries are compared relatively and
        entries near zero against the size of the whole gradient, whatever its order of magnitude; `noise`,
        `16 * eps * |f(x)| / delta`, is the rounding error of the difference quotient itself.

    Returns
    -------
    bool
    """
    x = check_float_array(x, "x")
    delta, tol = _check_steps(delta, tol)
    value, analytic = f(x)
    if not np.isscalar(value) and np.ndim(value) != 0:
        raise ValueError(f"`f` must return a scalar value, got shape {np.shape(value)}")
    analytic = np.array(analytic, dtype=np.float64)
    if analytic.shape != x.shape:
        raise ValueError(f"`f` must return a gradient shaped like x {x.shape}, got {analytic.shape}")

    numeric = np.empty_like(analytic)
    for index in np.ndindex(x.shape):
        original = x[index].copy()
        try:
            x[index] = original + delta
            f_plus = float(f(x)[0])
            x[index] = original - delta
            f_minus = float(f(x)[0])
        finally:
            x[index] = original
        numeric[index] = (f_plus - f_minus) / (2 * delta)

    scale = max(np.abs(analytic).max(initial=0), np.abs(numeric).max(initial=0))
    noise = 16 * np.finfo(x.dtype).eps * abs(float(value)) / delta
    bound = np.maximum(tol * np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), scale), noise)
    bad = ~(np.abs(analytic - numeric) <= bound)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        print(f"Gradients are different at {index}. Analytic: {analytic[index]:.10g}, "
              f"Numeric: {numeric[index]:.10g} ({int(bad.sum())} of {bad.size} elements differ)")
        return False
    print("Gradient check passed!")
    return True


def check_layer_gradient(layer, x, delta=1e-5, tol=1e-4):
    """Check the gradient of `layer` with respect to its input `x`.

    The scalar checked is `sum(layer.forward(x) * weight)` for a fixed random `weight`, so that every output
    element contributes with a different sign and size. `x` is float32 or float64, like every layer input.
    """
    x = check_float_array(x, "x")
    _check_steps(delta, tol)
    weight = _output_weight(layer.forward(x))
    saved_grads = _save_grads(layer.params())

    def value_and_grad(x):
        output = layer.forward(x)
        return np.sum(output * weight), layer.backward(weight)

    try:
        return check_gradient(value_and_grad, x, delta, tol)
    finally:
        _restore_grads(layer.params(), saved_grads)


def check_layer_param_gradient(layer, x, param_name, delta=1e-5, tol=1e-4):
    """Check the gradient of `layer` with respect to its parameter `param_name` at input `x` (float32 or float64)."""
    x = check_float_array(x, "x")
    _check_steps(delta, tol)
    params = layer.params()
    if param_name not in params:
        raise ValueError(f"`param_name` must be one of {sorted(params)}, got {param_name!r}")
    param = params[param_name]
    weight = _output_weight(layer.forward(x))
    saved_grads = _save_grads(params)

    def value_and_grad(value):
        param.value = value
        output = layer.forward(x)
        param.grad = np.zeros_like(value)
        layer.backward(weight)
        return np.sum(output * weight), param.grad

    original_value = param.value
    try:
        return check_gradient(value_and_grad, param.value, delta, tol)
    finally:
        param.value = original_value
        _restore_grads(params, saved_grads)


def check_model_gradient(model, X, y, delta=1e-5, tol=1e-4):
    """Check the gradient of `model.compute_loss_and_gradients(X, y)` for every parameter of the model."""
    _check_steps(delta, tol)
    params = model.params()
    saved_grads = _save_grads(params)
    try:
        for name, param in params.items():
            print(f"Checking gradient for {name}")

            def value_and_grad(value, param=param):
                param.value = value
                loss = model.compute_loss_and_gradients(X, y)
                return loss, param.grad.copy()

            original_value = param.value
            try:
                passed = check_gradient(value_and_grad, param.value, delta, tol)
            finally:
                param.value = original_value
            if not passed:
                return False
        return True
    finally:
        _restore_grads(params, saved_grads)


def _check_steps(delta, tol):
    """`delta` and `tol` as floats > 0."""
    return (check_number(delta, "delta", minimum=0, strict_minimum=True),
            check_number(tol, "tol", minimum=0, strict_minimum=True))


def _output_weight(output):
    """A fixed random upstream gradient shaped and typed like `output`."""
    rng = np.random.default_rng(_OUTPUT_WEIGHT_SEED)
    return rng.standard_normal(np.shape(output)).astype(np.asarray(output).dtype)


def _save_grads(params):
    return {name: param.grad.copy() for name, param in params.items()}


def _restore_grads(params, saved):
    for name, param in params.items():
        param.grad = saved[name]
