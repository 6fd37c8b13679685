"""Writes that are all or nothing: a crash or an error midway never leaves a broken file or a half-written run.

- `atomic_write(path)`: one file, written beside `path` and renamed onto it when complete;
- a training run's folder: a hidden staging folder beside the output folder, published by a rename once the run
  has ended, so that a failed run leaves nothing, a run is never seen half written and no run replaces files it
  did not write (the caller decides which runs may replace an earlier one: train.py lets only a finished run do
  so). `check_out(out, overwrite, run_files)` refuses an output folder before any work; `staging_folder(out)` is
  the hidden folder to write the run into, removed unless published; `publish(staging, out, overwrite)` moves
  the run into place (or to out-2, out-3, ... when another run took out).
"""
import contextlib
import errno
import itertools
import os
import secrets
import shutil
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


def check_out(out, overwrite, run_files, writer="train.py"):
    """Refuse an --out that is a file, or a non-empty one unless `overwrite` and it holds only a run's files (the
    files `writer`, the command named in the message, writes)."""
    if os.path.lexists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out} is a file; give a folder")
    existing = os.path.dirname(os.path.abspath(out))
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out} cannot be created: {existing} is "
                         f"{'not a folder' if not os.path.isdir(existing) else 'a folder this user cannot write to'}")
    names = sorted(os.listdir(out)) if os.path.isdir(out) else []
    if names and not overwrite:
        raise ValueError(f"--out {out} is not empty ({_some(names)}): give a new folder, or add --overwrite to "
                         f"replace it at the end of this run")
    foreign = [name for name in names if name not in run_files]
    if foreign:
        raise ValueError(f"--out {out} holds files {writer} does not write ({_some(foreign)}): --overwrite "
                         f"replaces only the folder of an earlier run; move them away or give another --out")


def _some(names):
    """The first three of `names`, and how many more there are."""
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


@contextlib.contextmanager
def staging_folder(out):
    """A new hidden folder beside `out` to write the run into; removed on exit unless it was moved away.

    The parent folders created for it are removed too when they are left empty.
    """
    parent, name = os.path.split(os.path.abspath(out))
    created = _missing_folders(parent)
    os.makedirs(parent, exist_ok=True)
    while True:
        # os.mkdir, unlike tempfile.mkdtemp (0700), gives the folder the permissions of any other new folder.
        staging = os.path.join(parent, f".{name}.{secrets.token_hex(4)}.tmp")
        with contextlib.suppress(FileExistsError):
            os.mkdir(staging)
            break
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def _missing_folders(folder):
    """`folder` and its ancestors that do not exist, deepest first."""
    missing = []
    while not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


def publish(staging, out, overwrite):
    """Move the finished run from `staging` to `out` and return where it went.

    A rename never merges folders: when another run filled `out` meanwhile, this run goes to the first free
    sibling `out-2`, `out-3`, ... With `overwrite`, the folder at `out` is moved aside first and removed once the
    new run is in place.
    """
    retired = None
    if overwrite and os.path.isdir(out):
        retired = f"{staging}.old"  # the staging name is unique, so this one is too
        os.rename(out, retired)
    try:
        target = _rename_to_free_name(staging, out)
    except BaseException:
        if retired is not None and not os.path.lexists(out):
            os.rename(retired, out)
        raise
    if retired is not None:
        _remove(retired)
    return target


def _rename_to_free_name(source, target):
    """Rename the folder `source` to `target`, or to `target-2`, `target-3`, ... when that is taken."""
    for candidate in itertools.chain([target], (f"{target}-{n}" for n in itertools.count(2))):
        try:
            os.rename(source, candidate)
            return candidate
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise


def _remove(path):
    if os.path.islink(path):
        os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)
