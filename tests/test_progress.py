"""Trainer's progress display: a live bar on a terminal (or in Jupyter), one plain line per epoch elsewhere."""
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from model import ConvNet
from optim import SGD
from trainer import Dataset, Trainer

ROOT = Path(__file__).resolve().parent.parent
EPOCH_LINE = r"Epoch {}/3: loss \d+\.\d{{4}}, train acc \d\.\d{{4}}, val acc \d\.\d{{4}}, \d+\.\d\d s"


class TerminalStream(io.StringIO):
    """A stream that says it is a terminal, as sys.stderr does in an interactive shell."""

    def isatty(self):
        return True


def tiny_trainer(**kwargs):
    """A Trainer of 3 epochs of 2 batches on 8 random 16x16 images, quick enough for a subprocess."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 16, 16, 3)), rng.integers(0, 10, 12)
    model = ConvNet((16, 16, 3), 10, conv1_channels=2, conv2_channels=2, dtype=np.float64, seed=0)
    return Trainer(model, Dataset(X[:8], y[:8], X[8:], y[8:]), SGD(), num_epochs=3, batch_size=4,
                   learning_rate=1e-3, seed=0, **kwargs)


def test_fit_into_a_pipe_prints_one_plain_line_per_epoch():
    result = subprocess.run([sys.executable, "-c", "from tests.test_progress import tiny_trainer; "
                                                   "tiny_trainer(verbose=True).fit()"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=60)
    assert result.returncode == 0, result.stdout
    assert "\r" not in result.stdout
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout
    for epoch, line in enumerate(lines, start=1):
        assert re.fullmatch(EPOCH_LINE.format(epoch), line), line


def test_fit_on_a_terminal_shows_the_bar_from_the_first_epoch_on(monkeypatch, capsys):
    terminal = TerminalStream()
    monkeypatch.setattr(sys, "stderr", terminal)
    tiny_trainer(verbose=True).fit()
    bar = terminal.getvalue()
    assert bar.startswith("\rEpoch 1/3:   0%|")  # no empty "0batch [00:00, ?batch/s]" bar before it
    assert "0batch [" not in bar
    for epoch in (1, 2, 3):
        assert re.search(rf"Epoch {epoch}/3: 100%\|\S+\| 2/2 \[[^\]]*, loss=\d+\.\d{{4}}\]", bar), bar
    # A new epoch's bar starts without the loss of the one before.
    assert not re.search(r"Epoch [23]/3:   0%[^\r]*loss=", bar), bar
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
