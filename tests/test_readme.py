"""Every Python block of the README and of docs/*.md runs as written, each on its own, in a fresh interpreter and an
empty folder.

The blocks are read from the pages at collection time, so a block added or changed there is tested at once. Each
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


PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def page_name(page):
    return page.relative_to(ROOT).as_posix()


def readme_blocks():
    """(page name, block) of every Python block of the README and the docs pages."""
    return [(page_name(page), match.group(1)) for page in PAGES
            for match in FENCE.finditer(page.read_text(encoding="utf-8"))]


def block_id(page_and_block):
    page, block = page_and_block
    first_line = next((line for line in block.splitlines() if line.strip() and not line.startswith("#")), "")
    words = re.sub(r"\W+", "_", first_line)[:40]
    return f"{page}:{words}"


def test_the_readme_and_the_docs_have_python_blocks():
    pages = {page for page, _ in readme_blocks()}
    assert "README.md" in pages and len(pages) >= 4 and len(readme_blocks()) >= 10


@pytest.mark.parametrize("page_and_block", readme_blocks(), ids=block_id)
def test_readme_block_runs_as_written(page_and_block, tmp_path):
    page, block = page_and_block
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
                   "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, f"{page} block failed:\n{block}\n--- stderr ---\n{result.stderr[-3000:]}"


SHELL_FENCE = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
ACTIVATE = "source .venv/bin/activate"


def readme_shell_commands(page=ROOT / "README.md"):
    """(offset in `page`, command) of every `python ...` line of the page's sh blocks."""
    text = page.read_text(encoding="utf-8")
    return [(match.start(1) + line_match.start(), line_match.group(1))
            for match in SHELL_FENCE.finditer(text)
            for line_match in re.finditer(r"^(python \S+.*?)(?:\s+#.*)?$", match.group(1), re.MULTILINE)]


def test_the_readme_activates_the_environment_before_its_first_python_command():
    """`make test` / `make demo` build .venv; a bare `python` is the system's, without numpy, until activated."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_command = min(offset for offset, _ in readme_shell_commands())
    assert ACTIVATE in text[:first_command], f"say `{ACTIVATE}` before the first `python` command"


@pytest.mark.parametrize("script", sorted({command.split()[1] for page in PAGES
                                            for _, command in readme_shell_commands(page)}))
def test_every_script_the_readme_runs_starts_in_the_environment(script, tmp_path):
    """Each `python SCRIPT ...` of the README and the docs, from the repository root with the environment's Python
    first on PATH (what activating does), gets as far as its --help."""
    environment = {**os.environ, "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                   "MPLBACKEND": "Agg"}
    environment.pop("PYTHONPATH", None)
    result = subprocess.run(["python", script, "--help"], cwd=ROOT, env=environment, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"python {script} --help failed:\n{result.stderr[-2000:]}"
    assert "usage" in result.stdout.lower()
