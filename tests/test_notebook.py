"""CNN.ipynb runs top to bottom, offline, against a stand-in built in a temporary folder.

The kernel starts in that folder (so the notebook's `load_svhn("data", ...)` reads the stand-in, never the
repository's `data/`) and imports the modules from the repository through PYTHONPATH.
"""
import os
import re

import nbformat
import pytest
from notebooks import assert_no_error_or_warning, code_outputs, execute

from standin import make_standin

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "CNN.ipynb")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notebook")
    make_standin(folder / "data")  # the defaults, as `make demo` builds it
    return execute(NOTEBOOK, folder, timeout=900)


def test_no_cell_prints_an_error_or_an_unexpected_warning(executed):
    assert_no_error_or_warning(executed)


def test_the_overfit_exercise_reaches_full_training_accuracy(executed):
    overfit = [cell for cell in executed.cells if "overfit" in cell.metadata.get("tags", [])]
    assert len(overfit) == 1
    text = "".join(output.get("text", "") for output in overfit[0].outputs if output.output_type == "stream")
    match = re.search(r"Best training accuracy: ([0-9.]+)", text)
    assert match, text[-2000:]
    assert float(match.group(1)) == 1.0


def test_every_plot_cell_shows_a_figure(executed):
    plot_cells = [cell for cell in executed.cells
                  if cell.cell_type == "code" and ("plt.plot(" in cell.source or "from plots import" in cell.source)]
    assert plot_cells
    for cell in plot_cells:
        assert any("image/png" in output.get("data", {}) for output in cell.outputs), cell.source



def _saved_cells():
    return nbformat.read(NOTEBOOK, as_version=4).cells


def test_plot_cells_number_epochs_from_one_as_the_log_does():
    """Each accuracy plot cell, run on histories of 3 epochs, draws its first point at epoch 1 ("Epoch 1/..")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cells = [cell for cell in _saved_cells() if cell.cell_type == "code" and "plt.plot(" in cell.source]
    assert len(cells) == 2
    for cell in cells:
        plt.close("all")
        exec(cell.source, {"np": np, "plt": plt, "loss_history": [2.3, 2.2, 2.1], "train_history": [0.1, 0.2, 0.3],
                           "val_history": [0.1, 0.1, 0.2]})
        lines = plt.gca().lines
        assert len(lines) == 2 and all(list(line.get_xdata()) == [1, 2, 3] for line in lines), cell.source
        assert plt.gca().get_xticks()[0] == 1, cell.source
        assert plt.gca().get_xlabel() == "epoch"
    plt.close("all")


def test_the_assignment_training_is_followed_by_why_it_stays_flat():
    cells = _saved_cells()
    start = next(k for k, cell in enumerate(cells) if "SGD(), batch_size=16, learning_rate=1e-4" in cell.source)
    plot, note = cells[start + 1], cells[start + 2]
    assert plot.cell_type == "code" and "plt.plot(" in plot.source
    assert note.cell_type == "markdown"
    russian, english = note.source.split("> *English:*")
    assert re.search("[а-яё]{4}", russian) and "ожидаем" in russian and "1e-4" in russian
    assert "expected" in english and "1e-4" in english and "one step per epoch" in english


def test_every_figure_has_alt_text_in_the_html_export(executed):
    """`make demo`'s HTML export (its template, read from the Makefile) gives every image its alt text."""
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as file:
        template = re.search(r"nbconvert --to html .*--template (\w+)", file.read()).group(1)
    figures = [cell for cell, output in code_outputs(executed) if "image/png" in output.get("data", {})]
    assert len(figures) == 4
    assert all(cell.metadata.get("alt", "").strip() for cell in figures)
    page, _ = HTMLExporter(template_name=template).from_notebook_node(executed)
    alts = [image.get("alt") for image in BeautifulSoup(page, features="html.parser").find_all("img")]
    assert len(alts) >= 4 and "No description has been provided for this image" not in alts  # nbconvert's filler
    assert all(cell.metadata.alt in alts for cell in figures)


def test_the_search_table_says_it_is_ranked_by_training_accuracy(executed):
    search_cell = next(cell for cell in executed.cells if "random_search(" in cell.source)
    text = "".join(output.get("text", "") for output in search_cell.outputs if output.output_type == "stream")
    ranking = "ranked by train_acc, highest first"
    assert text.splitlines()[0].startswith(ranking)
    assert text.splitlines()[1].split()[:3] == ["rank", "train_acc", "val_acc"]
    assert ranking in search_cell.source


def test_the_saved_outputs_say_once_that_the_data_is_the_stand_in_and_warn_nowhere():
    outputs = [output for cell in _saved_cells() if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.get("name") == "stderr" and "Warning" in output.text]
    printed = "".join(output.get("text", "") for output in outputs)
    assert printed.count("data/ holds the synthetic stand-in made by standin.py, NOT SVHN") == 1
