"""Write an output folder whole or not at all, without touching what other commands wrote beside it.

Every command stages its products in a temporary sibling and moves them into place at the end:
- `staged_directory(final)`: the command owns the whole folder `final` (e.g. build/<design>/fpga/ulx3s);
- `staged_entries(parent, names)`: the command owns only the entries `names` of a folder that other commands
  share (`aimcgen generate` owns spec.toml, rtl/, regmap.*, firmware/ and report.* of build/<design>/, not
  the evaluation/, fpga/, asic/, sweep/ or sim/ sub-folders that other commands write there).

The swap runs under an exclusive lock (fcntl.flock on the parent folder itself), so two runs that finish
together both succeed, one after the other. A staging folder is named `.<name>.<pid>.<random>.staging`; one left by
a run that was killed (its pid no longer runs) is removed by the next run in the same folder. Replaced
entries are first renamed into the staging folder's `old/`, so a crash between the two renames of a swap
leaves the previous entry there; the next run puts it back before anything else.

Errors a user can cause (the output path is a file, or a link, or not writable) raise `OutputError`, whose
message names the path and what is wrong.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

STAGING_SUFFIX = ".staging"


class OutputError(OSError):
    """An output path cannot be written as asked; the message names it and says why."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _staging_pid(entry: Path) -> int | None:
    """The pid in `.<name>.<pid>.<random>.staging`, or None for any other name."""
    if not (entry.name.startswith(".") and entry.name.endswith(STAGING_SUFFIX)):
        return None
    parts = entry.name[:-len(STAGING_SUFFIX)].split(".")
    return int(parts[-2]) if len(parts) >= 4 and parts[-2].isdigit() else None


def _recover(parent: Path) -> None:
    """Put back entries a killed swap left in old/, then remove staging folders of runs that no longer run."""
    for entry in parent.iterdir():
        pid = _staging_pid(entry)
        if pid is None or not entry.is_dir() or entry.is_symlink():
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            old = entry / "old"
            if old.is_dir():
                for kept in old.iterdir():
                    target = parent / kept.name
                    if not target.exists() and not target.is_symlink():
                        kept.rename(target)
            shutil.rmtree(entry, ignore_errors=True)


def _make_parent(parent: Path) -> list[Path]:
    """Create `parent` (and missing ancestors); returns the folders it created, deepest first."""
    for p in [parent, *parent.parents]:
        if p.is_symlink() and not p.exists():
            raise OutputError(errno.ENOENT, f"output folder {parent}: {p} is a dangling link")
        if p.exists() and not p.is_dir():
            raise OutputError(errno.ENOTDIR, f"output folder {parent}: {p} is a file, not a folder")
    created = [p for p in [parent, *parent.parents] if not p.exists()]
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(e.errno, f"output folder {parent}: cannot create it ({e.strerror})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(errno.EACCES, f"output folder {parent}: not writable")
    return created


def _remove_if_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def _locked(parent: Path) -> Iterator[None]:
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                # closing the descriptor releases the lock


def _new_staging(parent: Path, name: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.{os.getpid()}.", suffix=STAGING_SUFFIX, dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)          # mkdtemp makes 0700; the result should look like any other folder
    return tmp


def _check_replaceable(path: Path, is_dir: bool) -> None:
    if path.is_symlink():
        raise OutputError(errno.EEXIST, f"{path}: is a link; aimcgen replaces only what it wrote (remove the link)")
    if path.exists() and path.is_dir() != is_dir:
        kind = "folder" if path.is_dir() else "file"
        raise OutputError(errno.EEXIST, f"{path}: is a {kind} where aimcgen writes a "
                                        f"{'folder' if is_dir else 'file'} (move it away)")


def _swap(parent: Path, tmp: Path, names: Iterable[str], products: Path) -> None:
    old = tmp / "old"
    old.mkdir()
    for name in names:
        new, final = products / name, parent / name
        if not new.exists():
            continue
        _check_replaceable(final, new.is_dir())
        if final.exists():
            final.rename(old / name)
        new.rename(final)


@contextlib.contextmanager
def staged_entries(parent: Path, names: Iterable[str]) -> Iterator[Path]:
    """Yield an empty folder to write the entries `names` into; on success each written entry replaces its
    namesake in `parent` (entries not written are left alone, as is everything else in `parent`)."""
    parent, names = Path(parent), list(names)
    created = _make_parent(parent)
    try:
        with _locked(parent):               # another run's swap may be moving these entries right now
            _recover(parent)
            for name in names:
                _check_replaceable(parent / name, (parent / name).is_dir())
        tmp = _new_staging(parent, parent.name or "out")
    except BaseException:
        _remove_if_empty(created)
        raise
    products = tmp / "new"
    products.mkdir()
    try:
        yield products
        with _locked(parent):
            _swap(parent, tmp, names, products)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_if_empty(created)             # a failed first run leaves no empty build/<design>/
        raise
    shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_directory(final: Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces `final`, on error it is deleted."""
    final = Path(final)
    with staged_entries(final.parent, [final.name]) as products:
        folder = products / final.name
        folder.mkdir()
        yield folder
