"""What the tests of the check modules (selfcheck/checks/<module>.py) share: the ids of a module's checks, running a
check on our modules with some names replaced, keeping numpy's global random state, copying our modules as a learner's
folder, running the checks on a mutant (that copy with a known bug, see mutants.py) and on the template's stubs, and
the four tests every check module but checks/layers.py gets from these (module_tests)."""
import ast
import contextlib
import re
import shutil
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import check_solution
from selfcheck.base import MODULES, REGISTRY

REPO = Path(__file__).resolve().parent.parent


def check_ids(checks_module, module=None):
    """The ids of the checks that `checks_module` registers, in registry order.

    Parameters
    ----------
    checks_module : module
        A module of selfcheck/checks, e.g. selfcheck.checks.dataset.
    module : str or None
        A learner module name, e.g. "dataset": only the checks of that module; None: all of them.
    """
    return [check_id for check_id, entry in REGISTRY.items()
            if entry.function.__module__ == checks_module.__name__ and module in (None, entry.module)]


def check_runner(**ours):
    """A function run_check(check_id, **modules) returning the outcome of the check `check_id` on the modules `ours`
    (name -> module), with `modules` (name -> module or SimpleNamespace) in the place of ours."""
    def run_check(check_id, **modules):
        return REGISTRY[check_id].function(SimpleNamespace(**{**ours, **modules}))
    return run_check


@contextlib.contextmanager
def global_rng_kept():
    """Assert that the block leaves numpy's global random state as it found it."""
    before = np.random.get_state()
    yield
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2:] == after[2:]


def failures(hints):
    """{check id: hint key} -> {check id: ("fail", hint key, "")}: failures whose message is not pinned."""
    return {check_id: ("fail", hint_key, "") for check_id, hint_key in hints.items()}


def copy_our_modules(folder):
    """Copy the assignment's modules (base.MODULES) and every module or package of this repository they import,
    directly or not, into `folder`: our solution as a learner's folder, whatever helper modules it grew."""
    pending, seen = list(MODULES), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if (REPO / f"{name}.py").is_file():
            files = [REPO / f"{name}.py"]
            shutil.copy(files[0], folder)
        elif (REPO / name / "__init__.py").is_file():
            files = list((REPO / name).rglob("*.py"))
            shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            continue  # numpy, the standard library, ...
        pending += [imported for file in files for imported in _imported_names(file)]


def _imported_names(file):
    """The top-level names of the modules that the Python file `file` imports absolutely, anywhere in it."""
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.partition(".")[0]


def assert_mutant_outcomes(tmp_path, file, edit, module, expected_ids, failing, select=None):
    """Run the checks of `module` on a copy of our modules with a known bug; assert their outcomes.

    Parameters
    ----------
    tmp_path : pathlib.Path
        An empty folder, where our modules are copied (copy_our_modules).
    file : str
        The file of the bug, e.g. "layers.py".
    edit : callable
        source -> the source with the bug (mutants.py).
    module : str
        The learner module whose checks run.
    expected_ids : iterable of str
        The ids of the checks that must run.
    failing : dict
        {check id: (status, hint key, message pattern)}: the checks that must not pass, their message searched for
        the pattern (re.DOTALL). Every other check must pass.
    select : list of str or None
        check_solution.run's `select`.
    """
    copy_our_modules(tmp_path)
    (tmp_path / file).write_text(edit((tmp_path / file).read_text()))

    report = check_solution.run(str(tmp_path), only=[module], select=select)

    results = {entry["id"]: entry for entry in report["checks"]}
    assert set(results) == set(expected_ids)
    for check_id, entry in results.items():
        status, hint_key, pattern = failing.get(check_id, ("pass", None, ""))
        assert (entry["status"], entry["hint_key"]) == (status, hint_key), (check_id, entry)
        assert re.search(pattern, entry["message"], re.DOTALL), (check_id, entry["message"])


def assert_template_not_implemented(tmp_path, template, modules, ids):
    """Write the template's stubs in `tmp_path` and assert that the checks of `modules` are exactly `ids`, each
    `not implemented`.

    Parameters
    ----------
    tmp_path : pathlib.Path
        An empty folder.
    template : dict
        {file name: its text, dedented before it is written}.
    modules : iterable of str
        The learner modules whose checks run.
    ids : iterable of str
        The ids of the checks that must run.
    """
    for name, text in template.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    report = check_solution.run(str(tmp_path), only=list(modules))
    statuses = {entry["id"]: entry["status"] for entry in report["checks"]}
    assert statuses == dict.fromkeys(ids, "not implemented")


def module_tests(name, checks_module, run_check, mutants, template):
    """The four tests of a checks module whose checks all judge the learner module `name`.

    Parameters
    ----------
    name : str
        The learner module, e.g. "dataset".
    checks_module : module
        Its module of selfcheck/checks, e.g. selfcheck.checks.dataset.
    run_check : callable
        check_runner(...) on our modules.
    mutants : list of pytest.param
        (file, the edit that puts the bug in it (mutants.py), module, {check id: (status, hint key, message
        pattern)}), one test case each, with its id.
    template : dict
        {file name: the template's stubs}.

    Returns
    -------
    tuple of 4 functions
        test_every_module_of_ours_has_checks, test_check_passes_on_our_modules_and_keeps_the_global_rng (one case
        per check id), test_mutant_fails_the_right_check_with_its_hint (one case per mutant),
        test_template_stubs_are_not_implemented: assign them to these names in the test module, where pytest
        collects them.
    """
    ids = check_ids(checks_module)

    def test_every_module_of_ours_has_checks():
        assert {REGISTRY[check_id].module for check_id in ids} == {name}

    @pytest.mark.parametrize("check_id", ids)
    def test_check_passes_on_our_modules_and_keeps_the_global_rng(check_id):
        with global_rng_kept():
            assert run_check(check_id) is None

    @pytest.mark.parametrize("file, edit, module, failing", mutants)
    def test_mutant_fails_the_right_check_with_its_hint(tmp_path, file, edit, module, failing):
        assert_mutant_outcomes(tmp_path, file, edit, module, check_ids(checks_module, module), failing)

    def test_template_stubs_are_not_implemented(tmp_path):
        assert_template_not_implemented(tmp_path, template, [name], ids)

    return (test_every_module_of_ours_has_checks, test_check_passes_on_our_modules_and_keeps_the_global_rng,
            test_mutant_fails_the_right_check_with_its_hint, test_template_stubs_are_not_implemented)
