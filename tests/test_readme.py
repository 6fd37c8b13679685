"""Every Python block of the README runs as written, each on its own, in a fresh interpreter and an empty folder.

The blocks are read from README.md at collection time, so a block added or changed there is tested at once. Each
runs as a reader would run it from a folder of their own with the package importable (`PYTHONPATH` set to the
repository root, as the README's "From elsewhere" note says), so a missing import or a missing folder fails here.
"""
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def readme_blocks():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [match.group(1) for match in FENCE.finditer(text)]


def block_id(block):
    first_line = next((line for line in block.splitlines() if line.strip() and not line.startswith("#")), "")
    return re.sub(r"\W+", "_", first_line)[:40]


def test_the_readme_has_python_blocks():
    assert len(readme_blocks()) >= 4


@pytest.mark.parametrize("block", readme_blocks(), ids=block_id)
def test_readme_block_runs_as_written(block, tmp_path):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
                   "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, f"README block failed:\n{block}\n--- stderr ---\n{result.stderr[-3000:]}"


SHELL_FENCE = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
ACTIVATE = "source .venv/bin/activate"


def readme_shell_commands():
    """(offset in README.md, command) of every `python ...` line of the README's sh blocks."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(match.start(1) + line_match.start(), line_match.group(1))
            for match in SHELL_FENCE.finditer(text)
            for line_match in re.finditer(r"^(python \S+.*?)(?:\s+#.*)?$", match.group(1), re.MULTILINE)]


def test_the_readme_activates_the_environment_before_its_first_python_command():
    """`make test` / `make demo` build .venv; a bare `python` is the system's, without numpy, until activated."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_command = min(offset for offset, _ in readme_shell_commands())
    assert ACTIVATE in text[:first_command], f"say `{ACTIVATE}` before the first `python` command"


@pytest.mark.parametrize("script", sorted({command.split()[1] for _, command in readme_shell_commands()}))
def test_every_script_the_readme_runs_starts_in_the_environment(script, tmp_path):
    """Each `python SCRIPT ...` of the README, from the repository root with the environment's Python first on
    PATH (what activating does), gets as far as its --help."""
    environment = {**os.environ, "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                   "MPLBACKEND": "Agg"}
    environment.pop("PYTHONPATH", None)
    result = subprocess.run(["python", script, "--help"], cwd=ROOT, env=environment, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"python {script} --help failed:\n{result.stderr[-2000:]}"
    assert "usage" in result.stdout.lower()
