"""Turn the ``INPUT...`` arguments of ``ecgdigitize batch`` into a list of files.

An input is one of:

- a **folder**: the files in it whose suffix is one of :data:`INPUT_SUFFIXES`
  (with ``recursive``, those of its sub-folders too); hidden files and
  folders (name starting with ``.``) are skipped;
- a **glob** (``scans/*.png``, ``archive/**/*.pdf``; ``**`` spans folders
  only with ``recursive``): the files it matches, whatever their suffix;
- a **list** (a ``.txt`` file): one input per line, each a file, folder or
  glob; blank lines and ``#`` comments are ignored, and relative entries are
  taken relative to the list's folder;
- any other **file**, taken as it is (an unreadable one becomes a failed
  page later, not an error here). A file that does not exist is kept too, so
  that it is reported as a failed page with its reason.

The result is every file once (the same file reached twice, by a different
spelling or a symbolic link, counts once), as absolute paths, sorted.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import OptionError

__all__ = ["INPUT_SUFFIXES", "LIST_SUFFIX", "expand_inputs"]

#: Suffixes of the files taken from a folder (case-insensitive).
INPUT_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp",
                                   ".pdf")
#: Suffix of a list of inputs.
LIST_SUFFIX = ".txt"
_GLOB_CHARS = frozenset("*?[")


def _is_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


def _hidden(path: Path, root: Path) -> bool:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = (path.name,)
    return any(p.startswith(".") for p in parts)


def _folder_files(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return [p for p in found
            if p.suffix.lower() in INPUT_SUFFIXES and not _hidden(p, folder) and p.is_file()]


def _read_list(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError(f"cannot read input list {path}: {exc}") from None
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _expand_one(item: str, recursive: bool, base: Path, in_list: bool
                ) -> list[tuple[Path, bool]]:
    """Files of one input, each with whether it came from a folder or a glob.

    Raises
    ------
    OptionError
        If a folder or a glob yields no file.
    """
    path = Path(item).expanduser()
    if not path.is_absolute():
        path = base / path
    if path.is_dir():
        found = _folder_files(path, recursive)
        if not found:
            raise OptionError(f"no input files in folder {item!r}")
        return [(p, True) for p in found]
    if path.is_file() and path.suffix.lower() == LIST_SUFFIX and not in_list:
        files: list[tuple[Path, bool]] = []
        for entry in _read_list(path):
            try:
                files += _expand_one(entry, recursive, path.parent, True)
            except OptionError as exc:
                raise OptionError(f"{path}: {exc}") from None
        return files
    if not path.exists() and _is_glob(item):
        matches = [Path(m) for m in glob.glob(str(path), recursive=recursive)]
        found = [m for m in matches if m.is_file()]
        if not found:
            raise OptionError(f"no input files match {item!r}")
        return [(p, True) for p in found]
    return [(path, False)]


def expand_inputs(items: Sequence[str | os.PathLike[str]], recursive: bool = False,
                  exclude: Iterable[str | os.PathLike[str]] = (),
                  cwd: str | os.PathLike[str] | None = None) -> list[Path]:
    """The files named by folders, globs, lists and files.

    Parameters
    ----------
    items : sequence of str or path-like
        Inputs as given on the command line (see the module description).
    recursive : bool
        Descend into sub-folders of folders, and let ``**`` in a glob span
        folders.
    exclude : iterable of str or path-like
        Files never taken from a folder or a glob (e.g. the outputs and the
        manifest of an earlier run in the same folder). A file named on its
        own, or in a list, is always taken.
    cwd : str or path-like, optional
        Folder relative inputs are taken from (default: the current folder).

    Returns
    -------
    list of Path
        Absolute paths, each file once, sorted.

    Raises
    ------
    OptionError
        If no input is given, a folder or glob yields no file, or a list
        cannot be read.
    """
    if not items:
        raise OptionError("no input given")
    base = Path(cwd) if cwd is not None else Path.cwd()
    skip = {os.path.realpath(p) for p in exclude}
    seen: dict[str, Path] = {}
    for item in items:
        for p, scanned in _expand_one(os.fspath(item), recursive, base, False):
            real = os.path.realpath(p)
            if scanned and real in skip:
                continue
            seen.setdefault(real, Path(os.path.abspath(p)))
    return sorted(seen.values(), key=str)
