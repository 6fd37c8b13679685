"""What the notebook tests share: running a notebook in a folder, its code cells' outputs, and the check that no
cell printed an error or a warning."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def execute(path, folder, timeout, **environment):
    """The notebook at `path` run top to bottom, its kernel started in `folder`, the repository's modules importable
    through PYTHONPATH and the `environment` variables set (os.environ is put back after)."""
    notebook = nbformat.read(path, as_version=4)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute()
    return notebook


def code_outputs(notebook):
    """(cell, output) for every output of every code cell, in order."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            for output in cell.outputs:
                yield cell, output


def assert_no_error_or_warning(notebook):
    """No cell raised, and no line on stderr names a warning, an error or a traceback."""
    for cell, output in code_outputs(notebook):
        assert output.output_type != "error", cell.source
        if output.get("name") == "stderr":
            for line in output.text.splitlines():
                # Not even load_svhn's StandInDataWarning: the notebooks say that once, as a note on stdout.
                assert "Warning" not in line, line
                assert "Error" not in line and "Traceback" not in line, line
