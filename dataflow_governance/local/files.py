"""Reading input files and writing reports without being led astray by the file system.

An input (SQL, a schema, the manifest) must be a regular file of bounded size: `/dev/zero` or
`/dev/urandom` would be read forever, a FIFO would block the command. A report is written only to
a regular file or a new path, through a temporary file renamed into place: never through a
symlink (it could point anywhere), never over a FIFO, a device or a folder.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from dataflow_governance.errors import FileProblem

MiB = 1 << 20


def read_bounded(path: str | os.PathLike, what: str, limit: int = 10 * MiB) -> bytes:
    """The bytes of a regular file of at most `limit` bytes."""
    try:
        # Non-blocking: a FIFO is refused below instead of waiting for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise FileProblem(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise FileProblem(f"{what} {path}: cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem(f"{what} {path}: not a regular file (a folder, device, FIFO or socket is never read)")
        if info.st_size > limit:
            raise FileProblem(f"{what} {path}: {info.st_size:,} bytes, more than the {limit:,} this reads")
        data = handle.read(limit + 1)
    if len(data) > limit:  # (grew while it was read)
        raise FileProblem(f"{what} {path}: more than {limit:,} bytes")
    return data


def read_text_bounded(path: str | os.PathLike, what: str, limit: int = 10 * MiB) -> str:
    try:
        return read_bounded(path, what, limit).decode("utf-8")
    except UnicodeDecodeError:
        raise FileProblem(f"{what} {path}: not UTF-8 text") from None


def check_output_folder(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """A folder reports may go into: an existing folder (not a symlink to one elsewhere) or a new path."""
    path = Path(folder)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise FileProblem(f"{what} {path}: exists and is not a folder (a file, link, device or FIFO is never "
                          "written into)")
    return path


def write_safely(path: str | os.PathLike, data: bytes | str, what: str = "report") -> Path:
    """Write `data` to `path` if it is a regular file or a new path: a temporary file in the same
    folder, renamed over it. A symlink, FIFO, device or folder at `path` is refused."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        kind = "a symlink" if stat.S_ISLNK(info.st_mode) else "a folder" if stat.S_ISDIR(info.st_mode) else \
            "a device, FIFO or socket"
        raise FileProblem(f"{what} {path}: is {kind}; reports are written to regular files only")
    parent = path.parent
    if parent.is_symlink():
        raise FileProblem(f"{what} {path}: its folder is a symlink; reports are written to real folders only")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise FileProblem(f"{what} {path}: cannot be written ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
