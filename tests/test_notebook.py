"""CNN.ipynb runs top to bottom, offline, against a stand-in built in a temporary folder.

The kernel starts in that folder (so the notebook's `load_svhn("data", ...)` reads the stand-in, never the
repository's `data/`) and imports the modules from the repository through PYTHONPATH.
"""
import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

from dataset import StandInDataWarning
from standin import make_standin

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "CNN.ipynb")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notebook")
    make_standin(folder / "data")  # the defaults, as `make demo` builds it
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    old_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, old_path]))
    try:
        NotebookClient(notebook, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        if old_path is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old_path
    return notebook


def _outputs(notebook):
    for cell in notebook.cells:
        if cell.cell_type == "code":
            for output in cell.outputs:
                yield cell, output


def test_no_cell_prints_an_error_or_an_unexpected_warning(executed):
    for cell, output in _outputs(executed):
        assert output.output_type != "error", cell.source
        if output.get("name") == "stderr":
            text = output.text
            for line in text.splitlines():
                # The one warning allowed: load_svhn saying the data is the stand-in, not SVHN.
                assert "Warning" not in line or StandInDataWarning.__name__ in line, line
                assert "Error" not in line and "Traceback" not in line, line


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

