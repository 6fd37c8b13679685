"""download_data.sh without network: it fails fast and clearly and leaves no partial file under a final name."""
import functools
import http.server
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "download_data.sh"
UNREACHABLE = "http://127.0.0.1:9"
NAMES = ("train_32x32.mat", "test_32x32.mat")
TOOLS = ("bash", "cut", "md5sum", "mkdir", "mv", "rm", "tr", "wc")


def run(*args, base_url=UNREACHABLE, downloader=None, bin_dir=None, **env):
    """Run the script with SVHN_BASE_URL set; `downloader` keeps only curl or only wget on the PATH."""
    environment = {key: value for key, value in os.environ.items() if key != "DATA_DIR"}
    environment.update(SVHN_BASE_URL=base_url, **env)
    if downloader is not None:
        for tool in TOOLS + (downloader,):
            (bin_dir / tool).symlink_to(shutil.which(tool))
        environment["PATH"] = str(bin_dir)
    start = time.monotonic()
    result = subprocess.run(["bash", str(SCRIPT), *args], env=environment, capture_output=True, text=True,
                            timeout=120)
    return result, time.monotonic() - start


def assert_nothing_left(folder):
    for name in NAMES:
        assert not (folder / name).exists()
        assert not (folder / f"{name}.part").exists()


@pytest.mark.parametrize("downloader", ["curl", "wget"])
def test_unreachable_host_fails_fast_and_clearly(tmp_path, downloader):
    if shutil.which(downloader) is None:
        pytest.skip(f"{downloader} is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    folder = tmp_path / "data"
    result, seconds = run(str(folder), downloader=downloader, bin_dir=bin_dir)
    assert result.returncode != 0 and seconds < 30
    assert f"failed to download train_32x32.mat from {UNREACHABLE}/train_32x32.mat" in result.stderr
    assert f"python standin.py {folder}" in result.stderr
    assert_nothing_left(folder)


def test_data_dir_from_environment(tmp_path):
    folder = tmp_path / "elsewhere"
    result, _ = run(DATA_DIR=str(folder))
    assert result.returncode != 0 and f"python standin.py {folder}" in result.stderr
    assert folder.is_dir()
    assert_nothing_left(folder)


def test_partial_download_is_kept_for_resuming(tmp_path):
    part = tmp_path / "train_32x32.mat.part"
    part.write_bytes(b"\0" * 1000)
    result, _ = run(str(tmp_path))
    assert result.returncode != 0
    assert f"1000 of 182040794 bytes kept in {part}; run this script again to resume" in result.stderr
    assert part.read_bytes() == b"\0" * 1000 and not (tmp_path / "train_32x32.mat").exists()


def test_existing_unverified_file_left_alone_on_failure(tmp_path):
    standin = tmp_path / "train_32x32.mat"
    standin.write_bytes(b"stand-in")
    result, _ = run(str(tmp_path))
    assert result.returncode != 0
    assert standin.read_bytes() == b"stand-in" and not (tmp_path / "train_32x32.mat.part").exists()


@pytest.fixture
def wrong_file_server(tmp_path):
    """A local HTTP server whose train_32x32.mat is 1000 bytes of something else."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "train_32x32.mat").write_bytes(b"not svhn" * 125)
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_wrong_file_is_removed_not_moved_into_place(tmp_path, wrong_file_server):
    folder = tmp_path / "data"
    result, _ = run(str(folder), base_url=wrong_file_server)
    assert result.returncode != 0
    assert ("train_32x32.mat from http://127.0.0.1:" in result.stderr
            and "is not the expected file (expected 182040794 bytes" in result.stderr
            and "got 1000 bytes" in result.stderr)
    assert f"python standin.py {folder}" in result.stderr
    assert_nothing_left(folder)


def test_too_many_arguments(tmp_path):
    result, _ = run(str(tmp_path), "extra")
    assert result.returncode == 2 and "usage:" in result.stderr
