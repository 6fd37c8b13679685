"""What the tests of the checks_<module>.py files share: the ids of a module's checks, running a check on our modules
with some names replaced, keeping numpy's global random state, running the checks on a mutant (a copy of our
modules with a known bug) and on the template's stubs, and the four tests every checks module but checks_layers.py
gets from these (module_tests)."""
import contextlib
import re
import shutil
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import check_solution
from selfcheck.base import REGISTRY

REPO = Path(__file__).resolve().parent.parent


def check_ids(checks_module, module=None):
    """The ids of the checks that `checks_module` registers, in registry order.

    Parameters
    ----------
    checks_module : module
        A checks_<module>.py module, e.g. checks_dataset.
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


def assert_mutant_outcomes(tmp_path, file, replacements, module, expected_ids, failing, select=None):
    """Run the checks of `module` on a copy of the repository's modules with a known bug; assert their outcomes.

    Parameters
    ----------
    tmp_path : pathlib.Path
        An empty folder, where every *.py file of the repository is copied.
    file : str
        The file of the bug, e.g. "layers.py".
    replacements : list of (str, str)
        (our code, the bug put in its place); our code must occur exactly once in `file`.
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
    for source in REPO.glob("*.py"):
        shutil.copy(source, tmp_path)
    text = (tmp_path / file).read_text()
    for old, new in replacements:
        assert text.count(old) == 1, f"{file} no longer holds {old!r} once: update the mutant"
        text = text.replace(old, new)
    (tmp_path / file).write_text(text)

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
        Its checks_<module>.py module, e.g. checks_dataset.
    run_check : callable
        check_runner(...) on our modules.
    mutants : list of pytest.param
        (file, our code, the bug put in its place, module, {check id: (status, hint key, message pattern)}), one
        test case each, with its id.
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

    @pytest.mark.parametrize("file, original, bug, module, failing", mutants)
    def test_mutant_fails_the_right_check_with_its_hint(tmp_path, file, original, bug, module, failing):
        assert_mutant_outcomes(tmp_path, file, [(original, bug)], module, check_ids(checks_module, module), failing)

    def test_template_stubs_are_not_implemented(tmp_path):
        assert_template_not_implemented(tmp_path, template, [name], ids)

    return (test_every_module_of_ours_has_checks, test_check_passes_on_our_modules_and_keeps_the_global_rng,
            test_mutant_fails_the_right_check_with_its_hint, test_template_stubs_are_not_implemented)
