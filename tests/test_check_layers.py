"""Tests of checks_layers.py and checks_pooling.py: every check passes on our layers.py, fails with the right hint on
a copy of our modules with one known bug, judges hand-written learner layers (tie rules, cached weights, wrong return
types) and reports `not implemented` on the template's stubs."""
import ast
import importlib.util
import re
from types import SimpleNamespace

import numpy as np
import pytest
from check_harness import assert_mutant_outcomes, assert_template_not_implemented, check_ids, global_rng_kept
from mutants import added_becomes_assigned, appended, call_renamed, dropped, is_call, replaced, rewritten

import layers
from selfcheck.base import REGISTRY, CheckFailed, Info, Timing
from selfcheck.checks import layer_tools as checks_layer_tools
from selfcheck.checks import layers as checks_layers
from selfcheck.checks import pooling as checks_pooling

IDS = check_ids(checks_layers) + check_ids(checks_pooling)
SPEED_IDS = [check_id for check_id in IDS if REGISTRY[check_id].speed]
CHECK_IDS = [check_id for check_id in IDS if not REGISTRY[check_id].speed]
NAMES = ("Param", "l2_regularization", "softmax_with_cross_entropy", "ReLULayer", "FullyConnectedLayer",
         "ConvolutionalLayer", "MaxPoolingLayer", "Flattener")


def run_check(check_id, **names):
    """The check's outcome on our layers.py with `names` (name -> object) in place of ours."""
    return REGISTRY[check_id].function(SimpleNamespace(layers=SimpleNamespace(**{**vars(layers), **names})))


def checks_of(*names):
    """The non-speed check ids of the contract names given."""
    return [check_id for check_id in CHECK_IDS if check_id.split(".")[0] in names]


def test_every_name_of_the_contract_has_checks():
    assert {check_id.split(".")[0] for check_id in IDS} == set(NAMES)
    assert {REGISTRY[check_id].module for check_id in IDS} == {"layers"}


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_check_passes_on_our_layers_and_keeps_the_global_rng(check_id):
    with global_rng_kept():
        assert run_check(check_id) is None


@pytest.mark.parametrize("check_id", SPEED_IDS)
def test_speed_check_times_our_layer(check_id):
    timing = run_check(check_id)
    assert isinstance(timing, Timing) and 0 < timing.seconds < 5
    assert "64" in timing.what


class CountingPool(layers.MaxPoolingLayer):
    """Our max pooling, noting the batch size of every forward pass in `batches`."""

    def forward(self, X):
        self.batches.append(len(X))
        return super().forward(X)


def test_a_fast_layer_is_timed_on_the_whole_batch():
    pool = type("Pool", (CountingPool,), {"batches": []})
    assert "estimated" not in run_check("MaxPoolingLayer.speed.svhn_batch", MaxPoolingLayer=pool).what
    assert pool.batches[0] == 1 and 2 <= len(pool.batches) <= 6 and set(pool.batches[1:]) == {64}


def test_a_slow_layer_is_timed_on_one_image_and_its_batch_time_estimated(monkeypatch):
    monkeypatch.setattr(checks_layer_tools, "SPEED_ESTIMATE_ABOVE", 0.0)
    pool = type("Pool", (CountingPool,), {"batches": []})
    timing = run_check("MaxPoolingLayer.speed.svhn_batch", MaxPoolingLayer=pool)
    assert pool.batches == [1]
    assert timing.what.endswith("; estimated as 64 times the time of one image, the batch would take too long")


class ListBackwardConv(layers.ConvolutionalLayer):
    def backward(self, d_out):
        return super().backward(d_out).tolist()


def test_speed_check_fails_a_wrong_return_value():
    with pytest.raises(CheckFailed, match=r"ConvolutionalLayer.backward: expected an array of shape \(1, 32, 32, 3\), "
                                          "got a list"):
        run_check("ConvolutionalLayer.speed.svhn_batch", ConvolutionalLayer=ListBackwardConv)


# (file, the edit that puts the bug in it (mutants.py), contract names whose checks run,
#  {check id: (status, hint key, message pattern)}); every other check of those names must still pass.
MUTANTS = [
    pytest.param("kernels.py", rewritten("_max_pool_backward_into", added_becomes_assigned()),
                 ("MaxPoolingLayer",),
                 {"MaxPoolingLayer.backward.overlapping": ("fail", "overlapping_windows", "two or more windows")},
                 id="pool-backward-assigns-instead-of-adding"),
    pytest.param("layers.py", appended("""
                     _init = MaxPoolingLayer.__init__
                     MaxPoolingLayer.__init__ = lambda self, pool_size, stride: _init(self, pool_size, pool_size)
                     """),
                 ("MaxPoolingLayer",),
                 {f"MaxPoolingLayer.{case}": ("fail", "stride_ignored", r"stride 3.*expected an array of shape|"
                                              r"expected an array of shape .* stride [23]")
                  for case in ("forward.values", "backward.disjoint", "backward.overlapping")},
                 id="pool-stride-ignored"),
    pytest.param("layers.py", appended("""
                     _forward = MaxPoolingLayer.forward


                     def _forward_keeping_X(self, X):
                         self.X_seen = X
                         return _forward(self, X)


                     def _backward_splitting_ties(self, d_out):
                         p, s, X = self.pool_size, self.stride, self.X_seen
                         d_input = np.zeros_like(X)
                         for y in range(d_out.shape[1]):
                             for x in range(d_out.shape[2]):
                                 window = X[:, y * s:y * s + p, x * s:x * s + p]
                                 mask = window == window.max(axis=(1, 2), keepdims=True)
                                 share = mask / mask.sum(axis=(1, 2), keepdims=True)
                                 d_input[:, y * s:y * s + p, x * s:x * s + p] += share * d_out[:, y:y + 1, x:x + 1]
                         return d_input
                     MaxPoolingLayer.forward, MaxPoolingLayer.backward = _forward_keeping_X, _backward_splitting_ties
                     """),
                 ("MaxPoolingLayer",),
                 {"MaxPoolingLayer.backward.tied_maxima": ("info", None, "splits a window's gradient equally")},
                 id="pool-ties-split"),
    pytest.param("layers.py", appended("""
                     _forward = ConvolutionalLayer.forward


                     def _forward_rows_columns_swapped(self, X):
                         out = _forward(self, X)
                         return out.reshape(out.shape[0], out.shape[2], out.shape[1], out.shape[3])
                     ConvolutionalLayer.forward = _forward_rows_columns_swapped
                     """),
                 ("ConvolutionalLayer",),
                 {f"ConvolutionalLayer.{case}": ("fail", "rows_columns_swapped", r"got shape \(1, 4, 3, 1\)|"
                                                 r"got shape \(1, 3, 2, 1\)")
                  for case in ("forward.output_shape", "forward.values", "backward.input_grad", "backward.W_grad",
                               "backward.B_grad")},
                 id="conv-rows-columns-swapped"),
    pytest.param("layers.py", rewritten("ConvolutionalLayer.backward", added_becomes_assigned("self.W.grad")),
                 ("ConvolutionalLayer",),
                 {"ConvolutionalLayer.backward.accumulates": ("fail", "grad_overwritten", "W.grad holds the second")},
                 id="conv-W-grad-overwritten"),
    pytest.param("layers.py", rewritten("FullyConnectedLayer.backward", added_becomes_assigned("self.W.grad")),
                 ("FullyConnectedLayer",),
                 {"FullyConnectedLayer.backward.accumulates": ("fail", "grad_overwritten", "W.grad holds the second")},
                 id="fc-W-grad-overwritten"),
    pytest.param("kernels.py", rewritten("affine_backward", call_renamed("sum", "mean")),
                 ("FullyConnectedLayer",),
                 {"FullyConnectedLayer.backward.B_grad": ("fail", None, r"respect to B.*batch 4")},
                 id="fc-B-grad-mean-over-batch"),
    pytest.param("layers.py", rewritten("softmax_with_cross_entropy", replaced(  # logits - logits.max(...) -> logits
                     lambda node: isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and
                     is_call(node.right, "max"), lambda node: node.left)),
                 ("softmax_with_cross_entropy", "l2_regularization"),
                 {"softmax_with_cross_entropy.loss.large_logits": ("fail", None, "got loss nan.*subtract each row's "
                                                                                 "maximum")},
                 id="softmax-without-max-shift"),
    pytest.param("layers.py", rewritten("softmax_with_cross_entropy", dropped(  # the gradient's `/= batch`
                     lambda node: isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Div))),
                 ("softmax_with_cross_entropy",),
                 {"softmax_with_cross_entropy.gradient.batch": ("fail", "loss_sum_not_mean",
                                                                "summed loss.*batch size 3")},
                 id="softmax-gradient-of-the-sum"),
    pytest.param("layers.py", appended("""
                     _l2 = l2_regularization


                     def l2_regularization(W, reg_strength):
                         loss, grad = _l2(W, reg_strength)
                         return loss, grad / 2
                     """),
                 ("l2_regularization", "Param"),
                 {"l2_regularization.gradient.formula": ("fail", None, "half of it")},
                 id="l2-gradient-without-factor-2"),
    pytest.param("layers.py", appended("""
                     ReLULayer.backward = lambda self, d_out: d_out
                     """),
                 ("ReLULayer", "Flattener"),
                 {"ReLULayer.backward.values": ("fail", None, "ReLULayer.backward: .* values differ")},
                 id="relu-backward-passes-everything"),
    pytest.param("layers.py", appended("""
                     Flattener.backward = lambda self, d_out: d_out
                     """),
                 ("Flattener", "ReLULayer"),
                 {"Flattener.backward.round_trip": ("fail", None, r"expected an array of shape \(1, 2, 2, 3\)")},
                 id="flattener-backward-keeps-flat-shape"),
]


@pytest.mark.parametrize("file, edit, names, expected", MUTANTS)
def test_mutant_fails_the_right_checks_only(tmp_path, file, edit, names, expected):
    assert_mutant_outcomes(tmp_path, file, edit, "layers", checks_of(*names), expected,
                           select=checks_of(*names))


class LoopMaxPool:
    """A learner's max pooling by loops over windows; `rule` says which of a window's tied maxima get its gradient:
    "first" (the whole of it to the first), "split" (equal shares), "each" (all of it to each), "untied" (nothing
    to tied maxima) or "mixed" (equal shares for two tied maxima, all of it to each for more)."""
    rule = "first"

    def __init__(self, pool_size, stride):
        self.pool_size, self.stride = pool_size, stride

    def params(self):
        return {}

    def windows(self):
        p, s = self.pool_size, self.stride
        for y in range((self.X.shape[1] - p) // s + 1):
            for x in range((self.X.shape[2] - p) // s + 1):
                yield y, x, (slice(None), slice(y * s, y * s + p), slice(x * s, x * s + p))

    def forward(self, X):
        self.X = X
        out_shape = (len(X), (X.shape[1] - self.pool_size) // self.stride + 1,
                     (X.shape[2] - self.pool_size) // self.stride + 1, X.shape[3])
        out = np.zeros(out_shape)
        for y, x, window in self.windows():
            out[:, y, x] = X[window].max(axis=(1, 2))
        return out

    def backward(self, d_out):
        d_input = np.zeros_like(self.X)
        for y, x, window in self.windows():
            for n, channel in np.ndindex(len(self.X), self.X.shape[3]):
                values = self.X[window][n, :, :, channel]
                maxima = (values == values.max()).astype(float)
                d_input[window][n, :, :, channel] += self.share(maxima) * d_out[n, y, x, channel]
        return d_input

    def share(self, maxima):
        count = maxima.sum()
        if self.rule == "first" or count == 1:
            first = np.zeros(maxima.size)
            first[np.argmax(maxima)] = 1
            return first.reshape(maxima.shape)
        if self.rule == "split" or (self.rule == "mixed" and count == 2):
            return maxima / count
        return maxima if self.rule in ("each", "mixed") else 0 * maxima


def pool_with_rule(rule):
    return type(f"MaxPool_{rule}", (LoopMaxPool,), {"rule": rule})


def test_loop_pooling_with_the_first_maximum_passes_every_pooling_check():
    for check_id in checks_of("MaxPoolingLayer"):
        assert run_check(check_id, MaxPoolingLayer=pool_with_rule("first")) is None


@pytest.mark.parametrize("rule, message", [
    ("split", "splits a window's gradient equally among its tied maxima"),
    ("each", "gives a window's whole gradient to each of its tied maxima"),
])
def test_a_consistent_other_tie_rule_is_info(rule, message):
    outcome = run_check("MaxPoolingLayer.backward.tied_maxima", MaxPoolingLayer=pool_with_rule(rule))
    assert isinstance(outcome, Info) and message in outcome.message


@pytest.mark.parametrize("rule, message", [
    ("untied", r"expected the window's whole gradient on one of its maxima and 0 elsewhere, in the window at rows "
               r"0-1, columns 0-1, channel 1 \(2 equal maxima\)"),
    ("mixed", r"treats tied maxima by several rules \(each, split of"),
])
def test_an_inconsistent_tie_rule_fails(rule, message):
    with pytest.raises(CheckFailed, match=message) as failure:
        run_check("MaxPoolingLayer.backward.tied_maxima", MaxPoolingLayer=pool_with_rule(rule))
    assert failure.value.hint == "tied_maxima"


class WeightsKept(layers.ConvolutionalLayer):
    """A learner's convolution that computes with its copies `kept` of W and B, not with W.value and B.value."""

    def forward(self, X):
        current = self.W.value, self.B.value
        self.W.value, self.B.value = self.kept
        try:
            return super().forward(X)
        finally:
            self.W.value, self.B.value = current


class WeightsOfFirstForward(WeightsKept):
    """A learner's convolution that keeps copies of W and B from its first forward pass and computes with them."""

    def forward(self, X):
        self.__dict__.setdefault("kept", (self.W.value.copy(), self.B.value.copy()))
        return super().forward(X)


def test_conv_that_ignores_weights_set_after_its_first_forward_fails_new_weights_only():
    with pytest.raises(CheckFailed, match="were replaced after a forward pass, but the next forward gave the same "
                                          "output as before: read self.W.value"):
        run_check("ConvolutionalLayer.forward.new_weights", ConvolutionalLayer=WeightsOfFirstForward)
    assert run_check("ConvolutionalLayer.forward.values", ConvolutionalLayer=WeightsOfFirstForward) is None


class ShiftedConv(layers.ConvolutionalLayer):
    def forward(self, X):
        return super().forward(X) + 1


def test_new_weights_says_when_the_forward_pass_is_wrong_from_the_start():
    with pytest.raises(CheckFailed, match="is wrong before any change of the weights, so their use could not be "
                                          "checked: see ConvolutionalLayer.forward.values"):
        run_check("ConvolutionalLayer.forward.new_weights", ConvolutionalLayer=ShiftedConv)


class ListReLU(layers.ReLULayer):
    def forward(self, X):
        return super().forward(X).tolist()


def not_a_pair(predictions, target_index):
    return layers.softmax_with_cross_entropy(predictions, target_index)[0]


def array_loss(W, reg_strength):
    loss, grad = layers.l2_regularization(W, reg_strength)
    return np.array([[loss, loss]]), grad


class NoneParams(layers.FullyConnectedLayer):
    def params(self):
        return None


@pytest.mark.parametrize("check_id, names, message", [
    ("ReLULayer.forward.values", {"ReLULayer": ListReLU},
     r"ReLULayer.forward: expected an array of shape \(2, 5\), got a list \(input: X shape \(2, 5\)\)"),
    ("softmax_with_cross_entropy.loss.single", {"softmax_with_cross_entropy": not_a_pair},
     r"expected a pair \(loss, gradient\), got float "),
    ("l2_regularization.loss.formula", {"l2_regularization": array_loss},
     r"l2_regularization's loss: expected a float, got ndarray array\(\[\["),
    ("FullyConnectedLayer.backward.W_grad", {"FullyConnectedLayer": NoneParams},
     r"FullyConnectedLayer.params\(\): expected a dict with the keys 'W' and 'B', got a NoneType"),
])
def test_a_wrong_return_value_is_a_failure_that_says_what_came(check_id, names, message):
    with pytest.raises(CheckFailed, match=message):
        run_check(check_id, **names)


class TemplateFullyConnected(layers.FullyConnectedLayer):
    """The template's initialisation: weights drawn from numpy's global generator."""

    def __init__(self, n_input, n_output):
        super().__init__(n_input, n_output)
        self.W = layers.Param(0.001 * np.random.randn(n_input, n_output))


def test_checks_put_back_the_global_rng_that_learner_layers_draw_from():
    with global_rng_kept():
        for check_id in checks_of("FullyConnectedLayer"):
            assert run_check(check_id, FullyConnectedLayer=TemplateFullyConnected) is None


STUB_CLASSES = {"Param": "value", "ReLULayer": "", "FullyConnectedLayer": "n_input, n_output",
                "ConvolutionalLayer": "in_channels, out_channels, filter_size, padding",
                "MaxPoolingLayer": "pool_size, stride", "Flattener": ""}


def template_stub():
    """layers.py as the template gives it, every function and method raising Exception("Not implemented!")."""
    raising = '    raise Exception("Not implemented!")\n'
    text = ["def l2_regularization(W, reg_strength):\n" + raising,
            "def softmax_with_cross_entropy(predictions, target_index):\n" + raising]
    for name, arguments in STUB_CLASSES.items():
        methods = [("__init__", arguments)] + ([] if name == "Param" else
                                               [("forward", "X"), ("backward", "d_out"), ("params", "")])
        text.append(f"class {name}:\n" + "\n".join(
            f"    def {method}(self{', ' * bool(args)}{args}):\n    {raising}" for method, args in methods))
    return "\n\n".join(text)


def test_every_check_raises_the_templates_not_implemented(tmp_path):
    (tmp_path / "layers.py").write_text(template_stub())
    spec = importlib.util.spec_from_file_location("template_layers", tmp_path / "layers.py")
    stub = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stub)
    for check_id in IDS:
        with pytest.raises(Exception, match="^Not implemented!$") as raised:
            REGISTRY[check_id].function(SimpleNamespace(layers=stub))
        assert type(raised.value) is Exception, check_id


def test_runner_reports_every_check_not_implemented_on_the_template(tmp_path):
    assert_template_not_implemented(tmp_path, {"layers.py": template_stub()}, ["layers"], IDS)


class FlatBiasGradFC:
    """A learner's fully connected layer whose B.grad loses the batch axis (`np.sum(d_out, axis=0)`, shape (n,)).

    `W_rule` / `B_rule`: "add" accumulates into the grad, "assign" overwrites it.
    """
    W_rule, B_rule = "add", "assign"

    def __init__(self, n_input, n_output):
        self.W = layers.Param(0.001 * np.random.randn(n_input, n_output))
        self.B = layers.Param(0.001 * np.random.randn(1, n_output))

    def forward(self, X):
        self.X = X
        return X @ self.W.value + self.B.value

    def backward(self, d_out):
        d_W, d_B = self.X.T @ d_out, np.sum(d_out, axis=0)
        self.W.grad = self.W.grad + d_W if self.W_rule == "add" else d_W
        self.B.grad = self.B.grad.reshape(-1) + d_B if self.B_rule == "add" else d_B
        return d_out @ self.W.value.T

    def params(self):
        return {"W": self.W, "B": self.B}


def fc_with(W_rule, B_rule):
    return type("FC", (FlatBiasGradFC,), {"W_rule": W_rule, "B_rule": B_rule})


def test_a_flat_B_grad_fails_B_grad_only_with_the_shape_rule():
    fc = fc_with("add", "add")
    for check_id in ("FullyConnectedLayer.backward.input_grad", "FullyConnectedLayer.backward.W_grad",
                     "FullyConnectedLayer.backward.accumulates"):
        assert run_check(check_id, FullyConnectedLayer=fc) is None, check_id
    with pytest.raises(CheckFailed, match=r"FullyConnectedLayer: B.grad must have the shape of B.value, \(1, 2\), "
                                          r"got shape \(2,\)") as failure:
        run_check("FullyConnectedLayer.backward.B_grad", FullyConnectedLayer=fc)
    assert failure.value.hint is None


@pytest.mark.parametrize("W_rule, B_rule, param", [("assign", "assign", "W"), ("add", "assign", "B")])
def test_a_flat_B_grad_does_not_hide_an_overwritten_grad(W_rule, B_rule, param):
    with pytest.raises(CheckFailed, match=f"{param}.grad holds the second pass's gradient only") as failure:
        run_check("FullyConnectedLayer.backward.accumulates", FullyConnectedLayer=fc_with(W_rule, B_rule))
    assert failure.value.hint == "grad_overwritten"


class FloorDivisionPool(LoopMaxPool):
    """A learner's pooling whose window moves by stride but whose output size is `height // stride`."""

    def windows(self):
        p, s = self.pool_size, self.stride
        for y in range(self.X.shape[1] // s):
            for x in range(self.X.shape[2] // s):
                yield y, x, (slice(None), slice(y * s, y * s + p), slice(x * s, x * s + p))

    def forward(self, X):
        self.X = X
        out = np.zeros((len(X), X.shape[1] // self.stride, X.shape[2] // self.stride, X.shape[3]))
        for y, x, window in self.windows():
            out[:, y, x] = X[window].max(axis=(1, 2))
        return out


@pytest.mark.parametrize("check_id", ["MaxPoolingLayer.forward.values", "MaxPoolingLayer.backward.disjoint",
                                      "MaxPoolingLayer.backward.overlapping"])
def test_a_wrong_pool_output_size_says_the_formula_and_not_stride_ignored(check_id):
    with pytest.raises(CheckFailed, match=r"expected an array of shape \(1, \d, \d, 1\), got shape \(1, \d, \d, 1\): "
                                          r"the output's height and width are \(H - pool_size\) // stride \+ 1"
                       ) as failure:
        run_check(check_id, MaxPoolingLayer=FloorDivisionPool)
    assert failure.value.hint is None


class PoolSizeStridePool(LoopMaxPool):
    """A learner's pooling that moves its window by pool_size whatever the stride."""

    def __init__(self, pool_size, stride):
        super().__init__(pool_size, pool_size)


def test_a_pool_moving_by_pool_size_gets_stride_ignored():
    with pytest.raises(CheckFailed, match=r"stride 3") as failure:
        run_check("MaxPoolingLayer.forward.values", MaxPoolingLayer=PoolSizeStridePool)
    assert failure.value.hint == "stride_ignored"


class SwappedLoopPool(LoopMaxPool):
    """A learner's pooling whose loops take rows for columns: right on square inputs, an exception otherwise."""

    def windows(self):
        p, s = self.pool_size, self.stride
        for x in range((self.X.shape[2] - p) // s + 1):
            for y in range((self.X.shape[1] - p) // s + 1):
                yield x, y, (slice(None), slice(x * s, x * s + p), slice(y * s, y * s + p))


class SwappedBackwardConv(layers.ConvolutionalLayer):
    """A learner's convolution whose backward loops over output columns as if they were rows (square: right)."""

    def backward(self, d_out):
        p, k = self.padding, self.filter_size
        X = np.pad(self._X_seen, ((0, 0), (p, p), (p, p), (0, 0)))
        d_X = np.zeros_like(X)
        W = self.W.value.reshape(-1, self.W.value.shape[3])
        for x in range(d_out.shape[2]):
            for y in range(d_out.shape[1]):
                patch = X[:, x:x + k, y:y + k].reshape(len(X), -1)
                self.W.grad += (patch.T @ d_out[:, x, y]).reshape(self.W.value.shape)
                d_X[:, x:x + k, y:y + k] += (d_out[:, x, y] @ W.T).reshape(len(X), k, k, -1)
        self.B.grad += d_out.sum(axis=(0, 1, 2))
        return d_X[:, p:X.shape[1] - p, p:X.shape[2] - p]

    def forward(self, X):
        self._X_seen = X
        return super().forward(X)


@pytest.mark.parametrize("check_id, names", [
    *[(f"MaxPoolingLayer.{case}", {"MaxPoolingLayer": SwappedLoopPool})
      for case in ("forward.values", "backward.disjoint", "backward.overlapping")],
    *[(f"ConvolutionalLayer.backward.{case}", {"ConvolutionalLayer": SwappedBackwardConv})
      for case in ("input_grad", "W_grad", "B_grad")],
])
def test_an_exception_on_a_non_square_input_whose_square_twin_passed_is_rows_columns_swapped(check_id, names):
    with pytest.raises(CheckFailed, match=r"raised (IndexError|ValueError): .* \(test_check_layers.py:\d+ in "
                                          r"(backward|forward|windows)\) on a non-square input, though its square "
                                          r"twin passed \(input: .*height (\d), width (?!\3)\d") as failure:
        run_check(check_id, **names)
    assert failure.value.hint == "rows_columns_swapped"


class RaisingPool(LoopMaxPool):
    """A learner's pooling raising `error` in forward, on every input or on non-square ones only."""
    error, square_too = ValueError("broken"), True

    def forward(self, X):
        if self.square_too or X.shape[1] != X.shape[2]:
            raise self.error
        return super().forward(X)


@pytest.mark.parametrize("error, square_too", [
    (ValueError("broken"), True), (NotImplementedError("no rectangles"), False),
    (Exception("Not implemented!"), False)])
def test_an_exception_on_a_square_input_or_a_not_implemented_propagates(error, square_too):
    pool = type("Pool", (RaisingPool,), {"error": error, "square_too": square_too})
    with pytest.raises(type(error), match=str(error)) as raised:
        run_check("MaxPoolingLayer.forward.values", MaxPoolingLayer=pool)
    assert raised.value is error


def trace_l2(W, reg_strength):
    """A learner's l2_regularization whose loss (a trace of W.T @ W) works on 2-D W only; its gradient is right."""
    return reg_strength * np.trace(np.matmul(W.T, W)), 2 * reg_strength * W


def half_trace_l2(W, reg_strength):
    return reg_strength * np.trace(np.matmul(W.T, W)), reg_strength * W


def test_l2_gradient_is_judged_on_2d_weights_when_the_loss_fails_on_4d_ones():
    with pytest.raises(ValueError):
        run_check("l2_regularization.loss.formula", l2_regularization=trace_l2)
    outcome = run_check("l2_regularization.gradient.formula", l2_regularization=trace_l2)
    assert isinstance(outcome, Info)
    assert re.search(r"right on W of shape \(3, 4\); on W of shape \(2, 3, 2, 2\) l2_regularization raised "
                     r"ValueError: .* \(test_check_layers.py:\d+ in trace_l2\): see l2_regularization.loss.formula",
                     outcome.message)
    with pytest.raises(CheckFailed, match="half of it"):
        run_check("l2_regularization.gradient.formula", l2_regularization=half_trace_l2)


def softmax_with_row_gradient(predictions, target_index):
    """A learner's softmax_with_cross_entropy whose loss is right but whose gradient of one sample is (1, N)."""
    loss, grad = layers.softmax_with_cross_entropy(predictions, target_index)
    return loss, grad.reshape(1, -1) if grad.ndim == 1 else grad


def test_a_wrong_gradient_shape_fails_the_gradient_check_not_the_loss_check():
    for check_id in ("softmax_with_cross_entropy.loss.single", "softmax_with_cross_entropy.loss.batch"):
        assert run_check(check_id, softmax_with_cross_entropy=softmax_with_row_gradient) is None
    with pytest.raises(CheckFailed, match=r"gradient.*shape \(5,\)"):
        run_check("softmax_with_cross_entropy.gradient.single", softmax_with_cross_entropy=softmax_with_row_gradient)


class PoolMovingByOne(LoopMaxPool):
    """A learner's pooling whose output has the right size but whose windows start at (y, x): they move by 1."""

    def windows(self):
        p = self.pool_size
        for y in range((self.X.shape[1] - p) // self.stride + 1):
            for x in range((self.X.shape[2] - p) // self.stride + 1):
                yield y, x, (slice(None), slice(y, y + p), slice(x, x + p))


def test_windows_moving_by_one_are_named_and_backward_is_not_blamed_for_it():
    with pytest.raises(CheckFailed, match=r"holding the maxima of windows moved by stride 2, got shape "
                                          r"\(1, 2, 2, 1\) holding those of windows moved by 1 pixel") as error:
        run_check("MaxPoolingLayer.forward.values", MaxPoolingLayer=PoolMovingByOne)
    assert error.value.hint == "stride_ignored"
    for check_id in ("MaxPoolingLayer.backward.disjoint", "MaxPoolingLayer.backward.overlapping",
                     "MaxPoolingLayer.backward.tied_maxima"):
        with pytest.raises(CheckFailed, match=r"windows moved by 1 pixel .*so it was not checked") as error:
            run_check(check_id, MaxPoolingLayer=PoolMovingByOne)
        assert error.value.hint == "stride_ignored", check_id  # the forward pass's bug, not a backward one


def l2_with_half_convention(W, reg_strength):
    """A learner's l2_regularization with the other convention: 0.5 * reg * sum(W**2), gradient reg * W."""
    return 0.5 * reg_strength * np.sum(W ** 2), reg_strength * W


def test_the_half_convention_of_l2_is_named_in_both_checks():
    with pytest.raises(CheckFailed, match=r"got half of it, .*the convention 0\.5 \* reg_strength \* sum\(W\*\*2\)"):
        run_check("l2_regularization.loss.formula", l2_regularization=l2_with_half_convention)
    with pytest.raises(CheckFailed, match=r"half of it: .*goes with the loss 0\.5 \* reg_strength \* sum\(W\*\*2\)"):
        run_check("l2_regularization.gradient.formula", l2_regularization=l2_with_half_convention)


def softmax_for_arrays_only(predictions, target_index):
    """A learner's softmax_with_cross_entropy that indexes target_index[0]: an int target raises."""
    return layers.softmax_with_cross_entropy(predictions, np.array([target_index[0]]))


def test_an_exception_carries_the_input_it_was_raised_on():
    with pytest.raises(TypeError) as error:
        run_check("softmax_with_cross_entropy.loss.single", softmax_with_cross_entropy=softmax_for_arrays_only)
    assert error.value.check_input.startswith("predictions shape (5,), target index ")


def softmax_one_based(predictions, target_index):
    """A learner's softmax_with_cross_entropy that takes the classes as 1-based: target_index - 1."""
    return layers.softmax_with_cross_entropy(predictions, (np.asarray(target_index) - 1) % predictions.shape[-1])


def test_one_based_class_indices_are_named():
    for check_id in ("softmax_with_cross_entropy.loss.single", "softmax_with_cross_entropy.loss.batch"):
        with pytest.raises(CheckFailed, match=r"the loss of class target_index -1: class indices start at 0"):
            run_check(check_id, softmax_with_cross_entropy=softmax_one_based)


class TransposedFilterConv(layers.ConvolutionalLayer):
    """A learner's convolution that reads the filter transposed, W[j, i] where W[i, j] belongs, and whose backward
    is the exact gradient of that forward pass (so the notebook's gradient checks pass)."""

    def forward(self, X):
        W = self.W.value
        self.W.value = np.ascontiguousarray(W.transpose(1, 0, 2, 3))
        try:
            return super().forward(X)
        finally:
            self.W.value = W

    def backward(self, d_out):
        W, grad = self.W.value, self.W.grad
        self.W.value, self.W.grad = np.ascontiguousarray(W.transpose(1, 0, 2, 3)), np.zeros_like(grad)
        try:
            d_input = super().backward(d_out)
            new = self.W.grad.transpose(1, 0, 2, 3)
        finally:
            self.W.value, self.W.grad = W, grad
        self.W.grad += new
        return d_input


def test_a_transposed_filter_is_named_and_backward_is_not_judged_on_a_wrong_forward():
    with pytest.raises(CheckFailed, match=r"the output of the filter transposed"):
        run_check("ConvolutionalLayer.forward.values", ConvolutionalLayer=TransposedFilterConv)
    for check_id in ("ConvolutionalLayer.backward.input_grad", "ConvolutionalLayer.backward.W_grad",
                     "ConvolutionalLayer.backward.B_grad"):
        with pytest.raises(CheckFailed, match=r"ConvolutionalLayer\.forward is wrong on this input \(see "
                                              r"ConvolutionalLayer\.forward\.values\), so backward was not checked"):
            run_check(check_id, ConvolutionalLayer=TransposedFilterConv)
    assert run_check("ConvolutionalLayer.backward.accumulates", ConvolutionalLayer=TransposedFilterConv) is None


class RowBiasConv(layers.ConvolutionalLayer):
    """A learner's convolution whose B is made (1, out_channels), off the contract, with its grad kept that shape."""

    def __init__(self, in_channels, out_channels, filter_size, padding):
        super().__init__(in_channels, out_channels, filter_size, padding)
        self.B = layers.Param(np.zeros((1, out_channels)))

    def forward(self, X):
        self.B.grad = self.B.grad.reshape(1, -1) if self.B.grad.ndim == 1 else self.B.grad
        bias, self.B.value = self.B.value, np.ravel(self.B.value)
        try:
            return super().forward(X)
        finally:
            self.B.value = bias

    def backward(self, d_out):
        grad, self.B.grad = self.B.grad, np.ravel(self.B.grad).copy()
        try:
            return super().backward(d_out)
        finally:
            self.B.grad = grad + self.B.grad.reshape(grad.shape) - np.ravel(grad).reshape(grad.shape)


def test_a_bias_made_in_another_shape_fails_params_shapes_only():
    with pytest.raises(CheckFailed, match=r"B"):
        run_check("ConvolutionalLayer.params.shapes", ConvolutionalLayer=RowBiasConv)
    assert run_check("ConvolutionalLayer.backward.B_grad", ConvolutionalLayer=RowBiasConv) is None


class SquareFailingPool(layers.MaxPoolingLayer):
    """A learner's pooling that is wrong where the stride does not fit the input, square or not (a public solution
    added a last window clamped to the edge): among the overlapping cases, only non-square ones show it."""

    def forward(self, X):
        out = super().forward(X)
        misfit = any((size - self.pool_size) % self.stride for size in X.shape[1:3])
        return out + 1 if misfit else out


def test_a_wrong_forward_gets_no_rows_and_columns_hint_in_the_backward_checks():
    for check_id in ("MaxPoolingLayer.backward.disjoint", "MaxPoolingLayer.backward.overlapping"):
        with pytest.raises(CheckFailed, match=r"forward is wrong on this input") as error:
            run_check(check_id, MaxPoolingLayer=SquareFailingPool)
        assert error.value.hint is None, check_id


class WeightsOfInit(WeightsKept):
    """A learner's convolution that computes with copies of W and B made in __init__."""

    def __init__(self, in_channels, out_channels, filter_size, padding):
        super().__init__(in_channels, out_channels, filter_size, padding)
        self.kept = (self.W.value.copy(), self.B.value.copy())


def test_conv_that_computes_with_the_weights_of_init_is_named():
    with pytest.raises(CheckFailed, match=r"forward: the output of the weights the layer was made with: it ignores "
                                          r"W\.value and B\.value set by the caller"):
        run_check("ConvolutionalLayer.forward.values", ConvolutionalLayer=WeightsOfInit)
    with pytest.raises(CheckFailed, match=r"W\.value and B\.value were set before the first forward pass, but it used "
                                          r"the weights the layer was made with"):
        run_check("ConvolutionalLayer.forward.new_weights", ConvolutionalLayer=WeightsOfInit)


class CeilSizePool(LoopMaxPool):
    """A learner's pooling whose output size rounds up, ceil((H - pool) / stride) + 1, a last window clamped."""

    def windows(self):
        p, s = self.pool_size, self.stride
        height, width = self.X.shape[1:3]
        for y in range(-(-(height - p) // s) + 1):
            for x in range(-(-(width - p) // s) + 1):
                top, left = min(y * s, height - p), min(x * s, width - p)
                yield y, x, (slice(None), slice(top, top + p), slice(left, left + p))

    def forward(self, X):
        self.X = X
        out = np.zeros((len(X), -(-(X.shape[1] - self.pool_size) // self.stride) + 1,
                        -(-(X.shape[2] - self.pool_size) // self.stride) + 1, X.shape[3]))
        for y, x, window in self.windows():
            out[:, y, x] = X[window].max(axis=(1, 2))
        return out


def test_a_wrong_output_size_in_a_backward_check_gets_no_rows_and_columns_hint():
    with pytest.raises(CheckFailed, match=r"got shape \(1, 2, 4, 1\).*so it was not checked") as error:
        run_check("MaxPoolingLayer.backward.overlapping", MaxPoolingLayer=CeilSizePool)
    assert error.value.hint is None


class TransposedThenCrashingPool(LoopMaxPool):
    """A learner's pooling that writes out[:, x, y]: transposed on a square input, an IndexError on others."""

    def forward(self, X):
        self.X = X
        out_height = (X.shape[1] - self.pool_size) // self.stride + 1
        out_width = (X.shape[2] - self.pool_size) // self.stride + 1
        out = np.zeros((len(X), out_height, out_width, X.shape[3]))
        for y, x, window in self.windows():
            out[:, x, y] = X[window].max(axis=(1, 2))
        return out


def test_a_crash_after_a_smaller_failing_case_reports_the_smaller_case():
    with pytest.raises(CheckFailed, match=r"height 4, width 4") as error:
        run_check("MaxPoolingLayer.forward.values", MaxPoolingLayer=TransposedThenCrashingPool)
    assert "IndexError" not in error.value.message


class ReLUAssertingAPositive(layers.ReLULayer):
    """A learner's ReLU that asserts its output keeps the input's maximum: it raises when no value is positive."""

    def forward(self, X):
        result = super().forward(X)
        assert X.max() == result.max()
        return result


def test_relu_is_tried_on_an_input_without_a_positive_value():
    with pytest.raises(AssertionError):
        run_check("ReLULayer.forward.values", ReLULayer=ReLUAssertingAPositive)


class OneWindowPool(LoopMaxPool):
    """A learner's pooling whose output size rounds down wrongly, (H - pool) // (stride + pool) + 1: one window of
    5x5 with pool 3 and stride 2, where there are two; its windows do move by the stride."""

    def forward(self, X):
        self.X = X
        out_height = (X.shape[1] - self.pool_size) // (self.stride + self.pool_size) + 1
        out_width = (X.shape[2] - self.pool_size) // (self.stride + self.pool_size) + 1
        out = np.zeros((len(X), out_height, out_width, X.shape[3]))
        for y in range(out_height):
            for x in range(out_width):
                window = X[:, y * self.stride:y * self.stride + self.pool_size,
                           x * self.stride:x * self.stride + self.pool_size]
                out[:, y, x] = window.max(axis=(1, 2))
        return out


def test_a_single_window_says_nothing_of_the_stride():
    with pytest.raises(CheckFailed) as error:
        run_check("MaxPoolingLayer.backward.overlapping", MaxPoolingLayer=OneWindowPool)
    assert error.value.hint != "stride_ignored", error.value.message


def softmax_with_math_log(predictions, target_index):
    """A learner's softmax_with_cross_entropy taking math.log of the target's probability: it raises where that
    probability underflows to 0."""
    import math
    _, grad = layers.softmax_with_cross_entropy(predictions, target_index)
    shifted = np.atleast_2d(predictions) - np.atleast_2d(predictions).max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    targets = np.atleast_1d(target_index).reshape(-1)
    return float(np.mean([-math.log(probs[i, t]) for i, t in enumerate(targets)])), grad


def test_a_math_domain_error_where_the_probability_underflows_is_info():
    outcome = run_check("softmax_with_cross_entropy.loss.large_logits",
                        softmax_with_cross_entropy=softmax_with_math_log)
    assert isinstance(outcome, Info) and "raises ValueError: math domain error" in outcome.message


class DivisibleOnlyPool(LoopMaxPool):
    """A learner's pooling that refuses sizes the stride does not fit, ValueError("Invalid output dimension!")."""

    def forward(self, X):
        if any((size - self.pool_size) % self.stride for size in X.shape[1:3]):
            raise ValueError("Invalid output dimension!")
        return super().forward(X)


def test_an_exception_on_a_size_not_its_orientation_is_not_called_rows_and_columns():
    """Pool 3, stride 2: 5x5 passes, 5x8 raises, and 5x7, as wide as it is tall, passes: no swap."""
    with pytest.raises(ValueError, match="Invalid output dimension!") as error:
        run_check("MaxPoolingLayer.backward.overlapping", MaxPoolingLayer=DivisibleOnlyPool)
    assert error.value.check_input == "pool size 3, stride 2, batch 1, height 5, width 8, channels 1"


def test_a_transposed_pooling_output_on_a_square_input_is_named():
    with pytest.raises(CheckFailed, match=r"rows and columns swapped, out\[:, x, y\]") as error:
        run_check("MaxPoolingLayer.forward.values", MaxPoolingLayer=TransposedThenCrashingPool)
    assert error.value.hint == "rows_columns_swapped"


class PaddingIgnoredBackwardConv(layers.ConvolutionalLayer):
    """A convolution whose input gradient is cut from the padded gradient at offset 0 instead of `padding`: right at
    padding 0 only."""

    def backward(self, d_out):
        d_X = super().backward(d_out)
        p = self.padding
        padded = np.pad(d_X, ((0, 0), (p, p), (p, p), (0, 0)))
        return padded[:, :d_X.shape[1], :d_X.shape[2]]


def test_a_convolution_backward_right_at_padding_0_only_gets_the_padding_hint():
    with pytest.raises(CheckFailed, match=r"with respect to input: .*padding 1") as failure:
        run_check("ConvolutionalLayer.backward.input_grad", ConvolutionalLayer=PaddingIgnoredBackwardConv)
    assert failure.value.hint == "padding_ignored"
