"""CNN_models.ipynb runs top to bottom at its CI size, offline, against a small stand-in built in a temporary folder.

As for CNN.ipynb, the kernel starts in that folder (the notebook's `data/` is the stand-in made here, and the model
it saves lands there too) and imports the modules from the repository through PYTHONPATH; NOTEBOOK_SIZE=ci makes the
notebook's sizes cell pick its smallest size.
"""
import os
import re

import nbformat
import numpy as np
import pytest
import scipy.io
from notebooks import assert_no_error_or_warning, code_outputs, execute

from checkpoint import load_classifier
from dataset import StandInDataWarning, load_svhn
from standin import make_standin

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "CNN_models.ipynb")
STANDIN_NOTICE = "holds the synthetic stand-in made by standin.py, NOT SVHN"
FINAL = re.compile(r"Final test accuracy \((.+?)\): ([0-9.]+)(.*)")
N_FIGURES = 7  # the course's augmentations, the flips, DIGITS, two learning curves, predictions, mistakes


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notebook_models")
    make_standin(folder / "data", n_train=500, n_test=200)
    return folder


@pytest.fixture(scope="module")
def executed(folder):
    return execute(NOTEBOOK, folder, timeout=300, NOTEBOOK_SIZE="ci")


def _tagged(notebook, tag):
    cells = [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]
    assert len(cells) == 1, f"{len(cells)} cells tagged {tag!r}"
    return cells[0]


def _stdout(cell):
    return "".join(output.get("text", "") for output in cell.outputs
                   if output.output_type == "stream" and output.name == "stdout")


def _final_accuracy(notebook):
    match = FINAL.search(_stdout(_tagged(notebook, "final")))
    assert match, _stdout(_tagged(notebook, "final"))
    return match


def test_no_cell_prints_an_error_or_an_unexpected_warning(executed):
    assert_no_error_or_warning(executed)


def test_the_stand_in_is_detected_and_said_so(executed):
    sizes = _stdout(_tagged(executed, "sizes"))
    assert STANDIN_NOTICE in sizes and "not an SVHN result" in sizes
    assert "Size 'ci'" in sizes
    printed = "".join(output.get("text", "") for _, output in code_outputs(executed))
    assert printed.count(STANDIN_NOTICE) == 1 and StandInDataWarning.__name__ not in printed   # once, as a note
    assert "Size 'ci' only checks that every cell runs" in sizes


def test_the_final_test_accuracy_is_a_fraction_of_the_chosen_model_said_to_mean_nothing_at_ci_size(executed):
    name, accuracy, note = _final_accuracy(executed).groups()
    assert name == "LeNet" or name.startswith("VGG")
    assert 0.0 <= float(accuracy) <= 1.0
    assert note == " (size 'ci' only checks that every cell runs: this number means nothing)"


def test_the_saved_outputs_say_what_the_data_is_once_and_warn_nowhere():
    outputs = [output for _, output in code_outputs(nbformat.read(NOTEBOOK, as_version=4))]
    assert not [output for output in outputs if output.get("name") == "stderr"]
    printed = "".join(output.get("text", "") for output in outputs)
    assert printed.count(STANDIN_NOTICE) == 1
    assert "(on the stand-in: NOT an SVHN result)" in printed      # the saved run is at the stand-in size


def test_the_search_varies_rate_annealing_and_weight_decay(executed):
    text = _stdout(_tagged(executed, "search")).splitlines()
    assert text[0].startswith("ranked by val_acc, highest first")
    header = text[1].split()
    assert header[:3] == ["rank", "val_acc", "train_acc"]
    assert {"lr", "schedule", "weight_decay"} <= set(header)
    assert len(text) == 2 + 2  # the two trials of the CI size
    schedule = header.index("schedule")
    assert all(line.split()[schedule] == "step:1:0.2" for line in text[2:])


def test_every_figure_has_alt_text_in_the_html_export(executed):
    """`make models`'s HTML export (its template, read from the Makefile) gives every image its alt text."""
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as file:
        template = re.search(r"nbconvert --to html .*--template (\w+) \$\(BUILD\)/CNN_models", file.read()).group(1)
    figures = [cell for cell, output in code_outputs(executed) if "image/png" in output.get("data", {})]
    assert len(figures) == N_FIGURES
    assert all(cell.metadata.get("alt", "").strip() for cell in figures)
    page, _ = HTMLExporter(template_name=template).from_notebook_node(executed)
    alts = [image.get("alt") for image in BeautifulSoup(page, features="html.parser").find_all("img")]
    assert "No description has been provided for this image" not in alts  # nbconvert's filler
    assert all(cell.metadata.alt in alts for cell in figures)


def test_the_saved_model_classifies_raw_images_as_the_notebook_measured(executed, folder):
    classifier = load_classifier(folder / "runs" / "CNN_models" / "model.npz")
    assert classifier.preprocessing["scale"] == pytest.approx(1 / 255)
    assert classifier.preprocessing["mean_image"].shape == (32, 32, 3)
    with pytest.warns(StandInDataWarning):
        _, _, test_raw, test_y = load_svhn(folder / "data", max_train=400, max_test=200)
    accuracy = np.mean(classifier.predict(test_raw) == test_y)
    assert accuracy == pytest.approx(float(_final_accuracy(executed).group(2)), abs=5e-5)


# The sizes cell on its own, run in a folder holding a stand-in or files shaped like SVHN's.

def _run_sizes_cell(folder, size_name=None):
    """The names the sizes cell defines when run in `folder`, with NOTEBOOK_SIZE set to `size_name` (None: unset)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        if size_name is None:
            patch.delenv("NOTEBOOK_SIZE", raising=False)
        else:
            patch.setenv("NOTEBOOK_SIZE", size_name)
        namespace = {}
        exec(_tagged(nbformat.read(NOTEBOOK, as_version=4), "sizes").source, namespace)
        return namespace


@pytest.fixture()
def svhn_like(tmp_path):
    """A data folder whose training file is shaped like SVHN's and, like it, carries no stand-in marker."""
    (tmp_path / "data").mkdir()
    scipy.io.savemat(tmp_path / "data" / "train_32x32.mat",
                     {"X": np.zeros((32, 32, 3, 5), np.uint8), "y": np.ones((5, 1), np.uint8)})
    return tmp_path


def test_real_svhn_gets_the_assignment_sizes(svhn_like, capsys):
    namespace = _run_sizes_cell(svhn_like)
    assert namespace["is_standin"] is False and namespace["size_name"] == "full"
    size = namespace["size"]
    assert size["max_train"] is None and size["max_test"] is None       # all 73,257 and 26,032 images
    assert size["val_fraction"] == 0.2 and size["search_train"] is None  # the assignment's split; the whole set
    assert size["lenet_epochs"] == size["search_epochs"] == 10           # the assignment's epochs
    assert size["anneal_every"] == [1, 5, 10, 15, 20, 50]
    assert "data/ holds SVHN" in capsys.readouterr().out


def test_the_stand_in_gets_its_own_size_and_a_notice(folder, capsys):
    namespace = _run_sizes_cell(folder)
    assert namespace["is_standin"] is True and namespace["size_name"] == "standin"
    assert STANDIN_NOTICE in capsys.readouterr().out


def test_notebook_size_overrides_the_choice(svhn_like):
    assert _run_sizes_cell(svhn_like, "ci")["size"]["lenet_epochs"] == 1
    with pytest.raises(ValueError, match="NOTEBOOK_SIZE must be one of full, standin, ci, got 'huge'"):
        _run_sizes_cell(svhn_like, "huge")


def test_a_missing_data_folder_says_how_to_get_the_data(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data/train_32x32.mat not found: run `make data`"):
        _run_sizes_cell(tmp_path)


def test_the_saved_outputs_come_from_a_full_run_on_the_stand_in():
    saved = nbformat.read(NOTEBOOK, as_version=4)
    assert not [output for _, output in code_outputs(saved) if output.output_type == "error"]
    sizes = _stdout(_tagged(saved, "sizes"))
    assert STANDIN_NOTICE in sizes and "Size 'standin'" in sizes
    name, accuracy, note = _final_accuracy(saved).groups()
    assert name.startswith("VGG") and 0.0 <= float(accuracy) <= 1.0 and "NOT an SVHN result" in note
    assert re.fullmatch(r"This run of the notebook, at size 'standin', took [0-9.]+ minutes.\n",
                        _stdout(_tagged(saved, "duration")))
