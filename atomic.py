"""Atomic file writes: a crash or an error mid-write never leaves a broken file under the final name."""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path):
    """Open a temporary file beside `path` for binary writing; move it onto `path` when the block succeeds.

    The file is flushed to disk before the rename and gets the usual permissions (0644, not mkstemp's 0600). On
    any error, the temporary file is removed and whatever stood at `path` is left as it was.

    Example::

        with atomic_write("model.npz") as file:
            np.savez(file, W=W)
    """
    folder, name = os.path.split(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
