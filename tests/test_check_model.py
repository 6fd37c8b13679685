"""Tests of checks_model.py: every check passes on our model.py, fails with the right hint on a copy of our modules
with one known bug, and reports `not implemented` on the template's stubs."""
import ast
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from check_harness import REPO, check_runner, failures, global_rng_kept, module_tests
from mutants import appended, call_renamed, dropped, is_call, replaced, rewritten

import check_solution
import model
from selfcheck import base
from selfcheck.checks import model as checks_model

run_check = check_runner(model=model)
TEMPLATE = {
    "model.py": """
        class ConvNet:
            def __init__(self, input_shape, n_output_classes, conv1_channels, conv2_channels):
                raise Exception("Not implemented!")

            def compute_loss_and_gradients(self, X, y):
                raise Exception("Not implemented!")

            def predict(self, X):
                raise Exception("Not implemented!")

            def params(self):
                raise Exception("Not implemented!")
        """,
}


# (file, our code, the bug put in its place, module, failures({check id: hint key of its failure})); every
# other check of the module must still pass.
MUTANTS = [
    pytest.param("layers.py", rewritten("ConvolutionalLayer.__init__", replaced(  # W = normal(shape) * np.sqrt(...)
        lambda node: isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and is_call(node.right, "sqrt"),
        lambda node: node.left)), "model",
                 failures({"ConvNet.init.initial_loss": "init_scale"}), id="conv_unit_variance"),
    pytest.param("param.py", appended("""
        Param.zero_grad = lambda self: None
        """), "model",
                 failures({"ConvNet.compute_loss_and_gradients.grads_zeroed": "grads_not_zeroed"}),
                 id="grads_not_zeroed"),
    pytest.param("layers.py", rewritten("softmax_with_cross_entropy", call_renamed("mean", "sum")), "model",
                 failures({"ConvNet.init.initial_loss": "loss_sum_not_mean",
                           "ConvNet.compute_loss_and_gradients.gradient": "loss_sum_not_mean"}), id="loss_summed"),
    pytest.param("layers.py", rewritten("softmax_with_cross_entropy", dropped(  # the gradient's `/= batch`
        lambda node: isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Div))), "model",
                 failures({"ConvNet.compute_loss_and_gradients.gradient": "loss_sum_not_mean"}),
                 id="gradient_of_the_summed_loss"),
    pytest.param("model.py", appended("""
        _params = ConvNet.params
        ConvNet.params = lambda self: {name.partition("_")[2]: param for name, param in _params(self).items()}
        """), "model", failures({"ConvNet.params.all_parameters": None}), id="params_duplicate_names"),
    pytest.param("model.py", rewritten(None, call_renamed("argmax", "argmin")), "model",
                 failures({"ConvNet.predict.lowest_loss": None}), id="predict_argmin"),
]


(test_every_module_of_ours_has_checks, test_check_passes_on_our_modules_and_keeps_the_global_rng,
 test_mutant_fails_the_right_check_with_its_hint, test_template_stubs_are_not_implemented) = module_tests(
    "model", checks_model, run_check, MUTANTS, TEMPLATE)


class _RandomModelWithoutParams:
    """A learner's ConvNet that draws from the global RNG and forgets its parameters."""

    def __init__(self, input_shape, n_output_classes, conv1_channels, conv2_channels):
        self.W = np.random.randn(3, 3)

    def params(self):
        return {}


def test_a_failing_check_leaves_the_global_rng_as_it_was():
    with global_rng_kept(), pytest.raises(base.CheckFailed,
                                          match=r"params\(\) holds 0 parameters .*missing: conv1 W"):
        run_check("ConvNet.params.all_parameters", model=SimpleNamespace(ConvNet=_RandomModelWithoutParams))


class _ConvNetWithWrongShapes:
    """A learner's ConvNet that passes its channel count as the filter size: six parameters, unique names."""

    def __init__(self, input_shape, n_output_classes, conv1_channels, conv2_channels):
        shapes = {"c1W": (conv1_channels, conv1_channels, 3, 3), "c1B": (3,), "c2W": (3, 3, 3, conv2_channels),
                  "c2B": (conv2_channels,), "fW": (4 * conv2_channels, 10), "fB": (1, 10)}
        self._params = {name: SimpleNamespace(value=np.zeros(shape), grad=np.zeros(shape))
                        for name, shape in shapes.items()}

    def params(self):
        return self._params


def test_six_parameters_of_wrong_shapes_are_named_without_blaming_their_names():
    with pytest.raises(base.CheckFailed) as failed:
        run_check("ConvNet.params.all_parameters", model=SimpleNamespace(ConvNet=_ConvNetWithWrongShapes))
    message = failed.value.message
    assert "holds 6 parameters" in message and "missing: conv1 W (3, 3, 3, 2)" in message
    assert "'c1W' (2, 2, 3, 3)" in message and "same name" not in message


class _ConvNetWithoutPadding:
    """A learner's ConvNet whose convolutions have padding 0: 32 -> 30 -> 7 -> 5 -> 1 pixel, fc of conv2 inputs."""

    def __init__(self, input_shape, n_output_classes, conv1_channels, conv2_channels):
        shapes = {"c1W": (3, 3, 3, conv1_channels), "c1B": (conv1_channels,),
                  "c2W": (3, 3, conv1_channels, conv2_channels), "c2B": (1, conv2_channels),
                  "fW": (conv2_channels, n_output_classes), "fB": (1, n_output_classes)}
        self._params = {name: SimpleNamespace(value=np.zeros(shape), grad=np.zeros(shape))
                        for name, shape in shapes.items()}

    def params(self):
        return self._params


def test_another_padding_or_pooling_is_information_not_a_failure():
    outcome = run_check("ConvNet.params.all_parameters", model=SimpleNamespace(ConvNet=_ConvNetWithoutPadding))
    assert isinstance(outcome, base.Info)
    assert "takes 4 inputs, 1 per channel of conv2" in outcome.message and "gives 4 per channel" in outcome.message


class _ConvNetOfTenClasses(model.ConvNet):
    """A learner's ConvNet that ignores n_output_classes and always scores 10 classes."""

    def __init__(self, input_shape, n_output_classes, conv1_channels, conv2_channels):
        super().__init__(input_shape, 10, conv1_channels, conv2_channels)


def test_a_convnet_that_ignores_n_output_classes_fails():
    with pytest.raises(base.CheckFailed, match=r"params\(\) holds no weight of shape \(n_input, 7\)"):
        run_check("ConvNet.init.n_output_classes", model=SimpleNamespace(ConvNet=_ConvNetOfTenClasses))


class _ConvNetWithLateParams(model.ConvNet):
    """A learner's ConvNet whose params() holds None until the first compute_loss_and_gradients."""

    def params(self):
        return {name: None for name in super().params()}


def test_params_that_are_none_on_a_new_model_are_named():
    with pytest.raises(base.CheckFailed, match=r"params\(\)\['conv1_W'\] is None on a newly made model"):
        run_check("ConvNet.params.all_parameters", model=SimpleNamespace(ConvNet=_ConvNetWithLateParams))


class _ConvNetWithFixedFcInputs(model.ConvNet):
    """A learner's ConvNet whose fully connected layer takes 72 inputs whatever conv2_channels is."""

    def params(self):
        params = dict(super().params())
        params["fc_W"] = SimpleNamespace(value=np.zeros((72, 10)), grad=np.zeros((72, 10)))
        return params


def test_a_fixed_number_of_fc_inputs_is_told_to_follow_the_channels():
    with pytest.raises(base.CheckFailed, match=r"inputs must follow conv2_channels \(16 here, 4 per channel\)"):
        run_check("ConvNet.params.all_parameters", model=SimpleNamespace(ConvNet=_ConvNetWithFixedFcInputs))


class _ConvNetWithWrongFcBias(model.ConvNet):
    """A learner's ConvNet whose fc bias gradient is off by one everywhere."""

    def compute_loss_and_gradients(self, X, y):
        loss = super().compute_loss_and_gradients(X, y)
        self.params()["fc_B"].grad += 1.0
        return loss


def test_a_wrong_parameter_gradient_names_the_parameter_and_the_entry_of_its_shape():
    with pytest.raises(base.CheckFailed, match=r"^the gradient of params\(\)\['fc_B'\] \(fc B, shape \(1, 10\)\) "
                                                      r"differs from the numeric gradient at 4 of the 4 entries "
                                                      r"sampled, the largest at entry \(0, \d\): "
                                                      r"expected -?\d.*, got -?\d.*\(input: batch 2, "):
        run_check("ConvNet.compute_loss_and_gradients.gradient",
                  model=SimpleNamespace(ConvNet=_ConvNetWithWrongFcBias))


PADDING_IGNORED = '''

_right_backward = ConvolutionalLayer.backward


def _backward_ignoring_padding(self, d_out):
    """The input gradient cut from the padded gradient at offset 0 instead of `padding`: right at padding 0 only."""
    d_X = _right_backward(self, d_out)
    if d_X is None:
        return None
    p = self.padding
    return np.pad(d_X, ((0, 0), (p, p), (p, p), (0, 0)))[:, :d_X.shape[1], :d_X.shape[2]]


ConvolutionalLayer.backward = _backward_ignoring_padding
'''


def test_a_model_gradient_failure_names_the_layer_checks_that_fail(tmp_path):
    for source in REPO.glob("*.py"):
        shutil.copy(source, tmp_path)
    with open(tmp_path / "layers.py", "a") as file:
        file.write(PADDING_IGNORED)
    report = check_solution.run(str(tmp_path), only=["layers", "model"], select=[
        "ConvolutionalLayer.backward.", "ConvNet.compute_loss_and_gradients.gradient"])
    outcomes = {entry["id"]: (entry["status"], entry["hint_key"]) for entry in report["checks"]}
    assert outcomes == {"ConvolutionalLayer.backward.input_grad": ("fail", "padding_ignored"),
                        "ConvolutionalLayer.backward.W_grad": ("pass", None),
                        "ConvolutionalLayer.backward.B_grad": ("pass", None),
                        "ConvolutionalLayer.backward.accumulates": ("pass", None),
                        "ConvNet.compute_loss_and_gradients.gradient": ("fail", None)}
    message = report["checks"][-1]["message"]
    assert re.search(r"^the gradient of params\(\)\['conv\d_[WB]'\] \(conv\d [WB], shape \([\d, ]+\)\) differs ",
                     message), message
    assert message.endswith("; layers.py fails ConvolutionalLayer.backward.input_grad: a wrong layer makes the model "
                            "wrong, fix it first"), message
    alone = check_solution.run(str(tmp_path), only=["model"], select=["ConvNet.compute_loss_and_gradients.gradient"])
    assert alone["checks"][0]["message"].endswith("; the checks of layers.py were not run: run them too, a wrong "
                                                  "layer makes the model wrong"), alone["checks"][0]["message"]
