"""Tests of checks_gradient_check.py: every check passes on our gradient_check.py, fails with the right message and
hint on a copy of it with one known bug, finds the bugs of hand-written learner checkers, and reports
`not implemented` on the template's stubs."""
import ast
from types import SimpleNamespace

import numpy as np
import pytest
from check_harness import check_ids, check_runner, module_tests
from mutants import appended, expression, replaced, rewritten

import gradient_check
from selfcheck.base import REGISTRY, CheckFailed, Info
from selfcheck.checks import gradient_check as checks_gradient_check

IDS = check_ids(checks_gradient_check)
run_check = check_runner(gradient_check=gradient_check)

TEMPLATE = {
    "gradient_check.py": """
        def check_gradient(f, x, delta=1e-5, tol=1e-4):
            raise Exception("Not implemented!")

        def check_layer_gradient(layer, x, delta=1e-5, tol=1e-4):
            raise Exception("Not implemented!")

        def check_layer_param_gradient(layer, x, param_name, delta=1e-5, tol=1e-4):
            raise Exception("Not implemented!")

        def check_model_gradient(model, X, y, delta=1e-5, tol=1e-4):
            raise Exception("Not implemented!")
        """,
}


# (file, our code, the bug put in its place, module, {check id: (status, hint key, message pattern)}); every
# other check of the module must still pass.
MUTANTS = [
    pytest.param("gradient_check.py", appended("""
        _check_gradient = check_gradient


        def check_gradient(*args, **kwargs):
            assert np.float  # removed from numpy: an AttributeError
            return _check_gradient(*args, **kwargs)
        """), "gradient_check",
                 {check_id: ("error", "np_float_removed", "AttributeError")
                  for check_id in IDS if REGISTRY[check_id].module == "gradient_check"},
                 id="np_float"),
    # `bad = ~(difference <= bound)` becomes all False: every gradient passes.
    pytest.param("gradient_check.py", rewritten("check_gradient", replaced(
        lambda node: isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert),
        lambda node: expression(f"np.zeros_like({ast.unparse(node.operand)}, dtype=bool)"))), "gradient_check",
                 {check_id: ("fail", None, "returned True on a wrong gradient")
                  for check_id in IDS if check_id.endswith((".wrong_gradient", ".output_weights", ".small_error"))},
                 id="checker_always_true"),
]


(test_every_module_of_ours_has_checks, test_check_passes_on_our_modules_and_keeps_the_global_rng,
 test_mutant_fails_the_right_check_with_its_hint, test_template_stubs_are_not_implemented) = module_tests(
    "gradient_check", checks_gradient_check, run_check, MUTANTS, TEMPLATE)


def learner_check_gradient(f, x, delta=1e-5, tol=1e-4, first_only=False, in_place=False, leave_shifted=False,
                           result=True):
    """A learner's check_gradient: perturbs x in place (`in_place`), forgets to restore it (`leave_shifted`),
    compares only the first entry (`first_only`), or returns None instead of its verdict (`result` False)."""
    _, analytic = f(x)
    analytic = analytic.copy()
    for index in list(np.ndindex(x.shape))[:1 if first_only else None]:
        if in_place:
            x[index] += delta
            plus = f(x)[0]
            x[index] -= 2 * delta
            minus = f(x)[0]
            x[index] += 0 if leave_shifted else delta
        else:
            shifted = x.copy()
            shifted[index] += delta
            plus = f(shifted)[0]
            shifted[index] -= 2 * delta
            minus = f(shifted)[0]
        if not np.isclose((plus - minus) / (2 * delta), analytic[index], tol):
            return False if result else None
    return True if result else None


@pytest.mark.parametrize("check_id, options, message", [
    pytest.param("check_gradient.call.wrong_gradient", {"first_only": True},
                 r"check_gradient returned True on a wrong gradient: it must compare every entry \(input: "
                 r"f\(x\) = sum\(x \*\* 2\), gradient 2 x but its last entry 1 too large, x of shape \(3,\)",
                 id="first_entry_only"),
    pytest.param("check_gradient.call.correct_gradient", {"result": False},
                 r"check_gradient must return True or False, got NoneType None", id="returns_none"),
    pytest.param("check_gradient.call.x_unchanged", {"in_place": True, "leave_shifted": True},
                 r"check_gradient changed x: 6 of 6 values differ afterwards", id="x_left_shifted"),
])
def test_check_gradient_failures(check_id, options, message):
    def check_gradient(f, x, delta=1e-5, tol=1e-4):
        return learner_check_gradient(f, x, delta, tol, **options)
    with pytest.raises(CheckFailed, match=message):
        run_check(check_id, gradient_check=SimpleNamespace(check_gradient=check_gradient))


def test_check_gradient_that_changes_x_by_rounding_is_info():
    def check_gradient(f, x, delta=1e-5, tol=1e-4):
        return learner_check_gradient(f, x, delta, tol, in_place=True)
    outcome = run_check("check_gradient.call.x_unchanged",
                        gradient_check=SimpleNamespace(check_gradient=check_gradient))
    assert isinstance(outcome, Info) and outcome.message.startswith("x changed by rounding only")


def test_model_checker_that_checks_the_first_parameter_only_fails():
    def check_model_gradient(model, X, y, delta=1e-5, tol=1e-4):
        param = next(iter(model.params().values()))

        def value_and_grad(value):
            param.value = value
            loss = model.compute_loss_and_gradients(X, y)
            return loss, param.grad.copy()
        return gradient_check.check_gradient(value_and_grad, param.value.copy(), delta, tol)

    with pytest.raises(CheckFailed, match=r"check_model_gradient returned True on a wrong gradient"):
        run_check("check_model_gradient.call.wrong_gradient",
                  gradient_check=SimpleNamespace(check_model_gradient=check_model_gradient))


def test_the_functions_checked_return_numpy_floats_as_real_losses_do():
    """A learner's checker may index the value, `grad[ix]`, and catch the IndexError of a numpy scalar."""
    def check_gradient(f, x, delta=1e-5, tol=1e-4):
        _, analytic = f(x)
        for index in np.ndindex(x.shape):
            shifted = x.copy()
            shifted[index] += delta
            plus = f(shifted)[0]
            shifted[index] -= 2 * delta
            value = (plus - f(shifted)[0]) / (2 * delta)
            try:
                value = value[index]
            except IndexError:  # a scalar: the value itself
                pass
            if not np.isclose(value, analytic[index], tol):
                return False
        return True
    module = SimpleNamespace(check_gradient=check_gradient)
    for case in ("correct_gradient", "wrong_gradient", "x_unchanged"):
        assert run_check(f"check_gradient.call.{case}", gradient_check=module) is None, case


def test_a_layer_checker_that_sums_the_outputs_misses_a_backward_ignoring_d_out():
    """A public solution weighed every output by 1 (np.ones_like) instead of random numbers."""
    def check_layer_gradient(layer, x, delta=1e-5, tol=1e-4):
        def value_and_grad(x):
            output = layer.forward(x)
            return np.sum(output), layer.backward(np.ones_like(output))
        return gradient_check.check_gradient(value_and_grad, x, delta, tol)
    with pytest.raises(CheckFailed, match=r"returned True on a wrong gradient: a loss that sums the outputs gives "
                                          r"d_out of ones"):
        run_check("check_layer_gradient.call.output_weights",
                  gradient_check=SimpleNamespace(check_layer_gradient=check_layer_gradient))


def test_a_checker_with_a_loose_default_tolerance_misses_a_small_error():
    """A public solution's check_model_gradient defaulted to tol=1e-2."""
    def check_model_gradient(model, X, y, delta=1e-5, tol=1e-2):
        return gradient_check.check_model_gradient(model, X, y, delta, tol)

    def check_gradient(f, x, delta=1e-5, tol=1e-2):
        return gradient_check.check_gradient(f, x, delta, tol)
    loose = SimpleNamespace(check_model_gradient=check_model_gradient, check_gradient=check_gradient)
    for check_id in ("check_model_gradient.call.small_error", "check_gradient.call.small_error"):
        with pytest.raises(CheckFailed, match=r"returned True on a wrong gradient: a gradient 0\.5% off must be "
                                              r"caught"):
            run_check(check_id, gradient_check=loose)
