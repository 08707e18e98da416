"""Atomic file writes: write to a temporary file in the target folder, then rename.

A reader never sees a half-written output, and an interrupted run leaves at
most a stray ``.tmp`` file, never a truncated result.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError

__all__ = ["atomic_path", "write_bytes_atomic", "write_text_atomic"]


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` on success.

    Parameters
    ----------
    path : str or Path
        Final destination.
    suffix : str, optional
        Suffix of the temporary file (defaults to the destination's, so that
        libraries choosing a format from the extension still work).

    Raises
    ------
    OutputError
        If the folder cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=(suffix if suffix is not None else path.suffix) ,
            dir=path.parent,
        )
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write to {path.parent}: {exc.strerror}") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates the file readable by its owner only; give the finished file the
        # permissions of an ordinary new file (0666 less the umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))
