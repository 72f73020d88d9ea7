"""Atomic, refuse-to-overwrite file writing shared by every step that writes files.

A file the workbook writes is either complete or absent: data goes to a temporary file in
the destination directory, is flushed to disk, and is renamed into place (``os.replace`` is
atomic on POSIX and Windows within one filesystem). Failures (unwritable directory, full
disk) become one-line :class:`~helpers.errors.WorkbookError` messages and leave nothing behind.
"""

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from .errors import WorkbookError
from .validate import require_path

__all__ = ["atomic_path", "ensure_writable_dir", "refuse_existing"]


def _describe_oserror(exc, path):
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device while writing {path}; free some disk space or choose another workspace"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write to {path} (permission denied or read-only); choose a writable workspace directory"
    return f"could not write {path}: {exc.strerror or exc}; check the directory and try again"


def ensure_writable_dir(directory):
    """Create ``directory`` if needed and check that files can be written in it.

    Parameters
    ----------
    directory : str or `~pathlib.Path`
        Directory to create/check.

    Returns
    -------
    path : `~pathlib.Path`
        The directory, resolved.

    Raises
    ------
    WorkbookError
        If the directory cannot be created or written to.
    """
    path = require_path(directory, "directory")
    if path.exists() and not path.is_dir():
        raise WorkbookError(f"{path} exists and is not a directory; choose another workspace path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise WorkbookError(_describe_oserror(exc, path)) from None
    return path.resolve()


def refuse_existing(path, overwrite=False):
    """Raise a one-line `WorkbookError` if ``path`` exists and ``overwrite`` is False.

    :func:`atomic_path` does this itself; writers call it first too when they would otherwise
    do expensive formatting before finding out.

    Returns
    -------
    path : `~pathlib.Path`
        ``path``, expanded.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise WorkbookError(f"path = {path!r} is not a file path; give a str or pathlib.Path")
    path = Path(path).expanduser()
    if path.is_dir():  # overwrite=True would not help: a file cannot replace a directory
        raise WorkbookError(f"{path} is a directory; give a file name, e.g. {path / 'output.txt'}")
    if path.exists() and not overwrite:
        raise WorkbookError(f"{path} already exists; pass overwrite=True to replace it or choose another file name")
    return path


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, overwrite=False):
    """Context manager yielding a temporary path that is renamed to ``path`` on success.

    Write the complete file to the yielded path; when the ``with`` block ends without an
    exception the file is moved into place atomically. On any exception the temporary file
    is removed and ``path`` is left untouched.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        Final destination.
    overwrite : bool, optional
        Replace an existing ``path``. If False (default) an existing file is an error.

    Yields
    ------
    tmp_path : `~pathlib.Path`
        Where to write. It lives in the destination directory (same filesystem).

    Raises
    ------
    WorkbookError
        If ``path`` exists and ``overwrite`` is False, or the directory is not writable,
        or the disk fills up.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "a.txt").read_text()
    'hello'
    """
    path = refuse_existing(path, overwrite)
    ensure_writable_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # make sure the bytes are on disk before the rename
            os.fsync(fh.fileno())
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WorkbookError(_describe_oserror(exc, path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
