"""Writing outputs so that nothing is ever half-written: every file (or project directory) is written under a
temporary name beside its destination and renamed into place only when complete.  A failure (a full disk, a
refused input, Ctrl-C) removes the temporary file and any directory made for it."""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path

from .errors import UserError

#: temporary files and directories being written, removed by the Ctrl-C handler (hwmoe.interrupt)
PENDING: set[Path] = set()


def check_output(path) -> Path:
    """``path`` as an output file: refused when it is a directory, an existing non-regular file (a device
    such as /dev/full would otherwise be replaced by a regular file) or inside a file."""
    dest = Path(path)
    check_folder(dest.parent)
    if dest.is_dir():
        raise UserError(f"{dest}: is a directory, expected a file name")
    if dest.exists() and not dest.is_file():
        raise UserError(f"{dest}: not a regular file")
    return dest


def check_folder(directory) -> list[Path]:
    """Refuse ``directory`` when it or an ancestor is a file; returns the folders missing, outermost first."""
    directory = Path(directory)
    missing = [d for d in (directory, *directory.parents) if not d.exists()][::-1]
    existing = missing[0].parent if missing else directory
    if not existing.is_dir():
        raise UserError(f"{existing}: exists and is not a folder")
    return missing


def make_parents(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; returns those created, outermost first."""
    missing = check_folder(directory)
    try:
        for d in missing:
            d.mkdir(exist_ok=True)          # another process may be making it too
    except OSError as e:
        remove_dirs(missing)
        raise UserError(f"{directory}: cannot create the folder ({e.strerror})") from None
    return missing


def remove_dirs(made: list[Path]) -> None:
    """Remove the folders ``make_parents`` created, innermost first, as far as they are empty."""
    for d in reversed(made):
        with contextlib.suppress(OSError):
            d.rmdir()


def discard(tmp: Path) -> None:
    """Remove a temporary file or directory (whichever it is, if it exists)."""
    PENDING.discard(tmp)
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            tmp.unlink()


@contextlib.contextmanager
def _staged(dest: Path, place):
    """Yield a fresh temporary path beside ``dest``; on success ``place(tmp)`` moves it into place."""
    made = make_parents(dest.parent)
    tmp = dest.parent / f".{dest.stem}.{secrets.token_hex(4)}.tmp{dest.suffix}"
    PENDING.add(tmp)
    try:
        yield tmp
        place(tmp)
    except OSError as e:
        discard(tmp)
        remove_dirs(made)
        raise UserError(f"{dest}: cannot write ({e.strerror or e})") from None
    except BaseException:
        discard(tmp)
        remove_dirs(made)
        raise
    PENDING.discard(tmp)


@contextlib.contextmanager
def output_file(path):
    """``with output_file(p) as tmp:`` write ``tmp`` (it does not exist yet); it becomes ``p`` at the end."""
    dest = check_output(path)
    with _staged(dest, lambda tmp: os.replace(tmp, dest)) as tmp:
        yield tmp


def write_text(path, text: str) -> Path:
    """Write a text file atomically; returns its path."""
    with output_file(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _merge_dir(tmp: Path, dest: Path) -> None:
    """A new folder is renamed into place; into an existing one each file is renamed (keeping other files,
    e.g. a project's build/)."""
    if not dest.exists():
        os.rename(tmp, dest)
        return
    for src in sorted(tmp.rglob("*")):
        target = dest / src.relative_to(tmp)
        if src.is_dir():
            target.mkdir(exist_ok=True)
        else:
            os.replace(src, target)
    discard(tmp)


@contextlib.contextmanager
def output_dir(path):
    """``with output_dir(d) as tmp:`` fill the new folder ``tmp``; its files land in ``d`` at the end."""
    dest = Path(path)
    if dest.exists() and not dest.is_dir():
        raise UserError(f"{dest}: exists and is not a folder")
    with _staged(dest, lambda tmp: _merge_dir(tmp, dest)) as tmp:
        tmp.mkdir()
        yield tmp
