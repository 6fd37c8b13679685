"""A class's submissions: one entry per student (a folder or a .zip), copied to a private folder, and the folder in it
that holds the assignment's modules, found as a teacher would look for it.

A submission is only ever read: grading works on the copy (`unpacked`), which the student's code may change at will.
"""
import os
import shutil
import zipfile

from selfcheck.base import MODULES

#: Files larger than this are left out of the copy (a dataset handed in with the code, e.g. SVHN's 180 MB): the
#: checks need the .py files only.
LARGEST_FILE = 20_000_000

#: A zip that unpacks to more than this is not unpacked further (a zip bomb).
LARGEST_UNPACKED = 200_000_000

#: Folders never searched for the modules, nor copied.
SKIPPED_FOLDERS = ("__MACOSX", "__pycache__", ".ipynb_checkpoints", ".git")

#: How deep below the submission's top the modules are looked for.
DEPTH = 4


def entries(submissions):
    """The student entries of the folder `submissions`: [(student id, path)] sorted by id, and the names ignored.

    Parameters
    ----------
    submissions : str
        A folder holding one folder or .zip file per student (hidden names are skipped).

    Returns
    -------
    (list of (str, str), list of str)
        (student id, entry's path) for each folder and .zip (the id is the name without ".zip"); the other names.

    Raises
    ------
    NotADirectoryError, FileNotFoundError, ValueError
        `submissions` is not a folder; it holds no entry; two entries have the same id (alice/ and alice.zip).
    """
    if not os.path.isdir(submissions):
        what = "does not exist" if not os.path.exists(submissions) else "is a file"
        error = FileNotFoundError if what == "does not exist" else NotADirectoryError
        raise error(f"SUBMISSIONS must be a folder holding one folder or .zip per student, got {submissions!r}, "
                    f"which {what}")
    found, ignored = {}, []
    for name in sorted(os.listdir(submissions)):
        path = os.path.join(submissions, name)
        if name.startswith("."):
            continue
        student = name[:-4] if name.lower().endswith(".zip") and os.path.isfile(path) else \
            name if os.path.isdir(path) else None
        if student is None:
            ignored.append(name)
        elif student in found:
            raise ValueError(f"SUBMISSIONS {submissions!r} holds two entries of the student {student!r} "
                             f"({os.path.basename(found[student])} and {name}): keep one per student")
        else:
            found[student] = path
    if not found:
        raise ValueError(f"SUBMISSIONS {submissions!r} holds no folder and no .zip file: one per student expected")
    return sorted(found.items()), ignored


def unpacked(entry, folder):
    """Copy the submission `entry` (a folder or a .zip) into the new folder `folder`; return notes on what was left
    out (large files, unsafe zip members), one str each.

    Raises
    ------
    zipfile.BadZipFile, OSError
        The zip cannot be read; the folder cannot be copied.
    """
    notes = []
    if os.path.isdir(entry):
        _copy_folder(entry, folder, notes)
    else:
        _unzip(entry, folder, notes)
    return notes


def modules_folder(folder):
    """The folder under `folder` that holds the assignment's modules: the one holding most of them, the shallowest
    of those, the first by name; None when none does.

    Returns
    -------
    str or None
        Its path relative to `folder` ("." for `folder` itself).
    """
    best = None
    for current, names, files in os.walk(folder):
        names[:] = sorted(name for name in names if name not in SKIPPED_FOLDERS and not name.startswith("."))
        relative = os.path.relpath(current, folder)
        depth = 0 if relative == "." else relative.count(os.sep) + 1
        if depth >= DEPTH:
            names[:] = []
        count = sum(f"{module}.py" in files or os.path.isfile(os.path.join(current, module, "__init__.py"))
                    for module in MODULES)
        if count and (best is None or (-count, depth, relative) < best):
            best = (-count, depth, relative)
    return None if best is None else best[2]


def notebooks(folder):
    """The notebooks (.ipynb) under `folder`, relative paths: a submission of notebooks only is named so."""
    return sorted(os.path.relpath(os.path.join(current, name), folder) for current, names, files in os.walk(folder)
                  for name in files if name.endswith(".ipynb") and ".ipynb_checkpoints" not in current)


def _copy_folder(source, target, notes):
    def ignore(current, names):
        skipped = {name for name in names if name in SKIPPED_FOLDERS}
        for name in names:
            path = os.path.join(current, name)
            if os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path) > LARGEST_FILE:
                skipped.add(name)
                notes.append(f"{os.path.relpath(path, source)} left out: larger than {LARGEST_FILE // 10**6} MB")
        return skipped
    shutil.copytree(source, target, symlinks=True, ignore=ignore)


def _unzip(entry, target, notes):
    """Unpack the zip `entry` into `target`, member by member, refusing paths that leave it and large files."""
    os.makedirs(target)
    unpacked_bytes = 0
    with zipfile.ZipFile(entry) as archive:
        for member in archive.infolist():
            name = member.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                notes.append(f"{name} left out: a path outside the submission")
                continue
            if any(part in SKIPPED_FOLDERS for part in parts) or member.is_dir():
                continue
            if member.file_size > LARGEST_FILE or unpacked_bytes + member.file_size > LARGEST_UNPACKED:
                notes.append(f"{name} left out: larger than {LARGEST_FILE // 10**6} MB, or the zip unpacks to more "
                             f"than {LARGEST_UNPACKED // 10**6} MB")
                continue
            unpacked_bytes += member.file_size
            path = os.path.join(target, *parts)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with archive.open(member) as source, open(path, "wb") as copy:
                shutil.copyfileobj(source, copy)
