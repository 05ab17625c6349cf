"""Reading and writing inside a bundle that another party may have made.

A bundle travels between parties who may disagree (the README's "Trust model"), so
`callproof report` and `callproof verify` touch its files only through here:

- a name is relative and stays inside the folder; each of its parts is opened from
  the folder's own descriptor without following a symbolic link (O_NOFOLLOW), so a
  link planted in a received bundle can neither be read nor written through;
- only regular files are read: a FIFO, a device, a socket or a link is refused, from
  lstat before anything is opened (O_NONBLOCK as well, so a FIFO swapped in between
  cannot block), and the descriptor must be the file lstat saw;
- reads are capped (the limits are in callproof.reports.layout); hashing streams;
- writes go to a new file created with O_EXCL under a fresh name, renamed into place:
  a rename replaces whatever entry had the final name and never writes through it.

Every refusal is a BundleFileError (exit code 2), one sentence naming the file.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Literal, overload

from callproof.reports import layout
from callproof.reports.errors import ReportInputError
from callproof.reports.terminal import escape

_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_BLOCK = 1 << 20


class BundleFileError(ReportInputError):
    """A bundle's entry that callproof will not read or write; the message names it."""


def shown(folder: Path, name: str) -> str:
    """How messages name a bundle's file: its path, control characters escaped."""
    return escape(str(Path(folder) / name))


def kind(mode: int) -> str:
    """What a non-regular entry is, in words."""
    for test, words in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISDIR, "a folder")):
        if test(mode):
            return words
    return "not a regular file"


def _parts(name: str) -> tuple[str, ...]:
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or any(p in ("..", ".") for p in parts):
        raise BundleFileError(f"{escape(name)} is not a path inside the bundle")
    return parts


def _open_folder(folder: Path, parts: tuple[str, ...]) -> int:
    """A descriptor of the folder that holds parts[-1], every step opened without following a link."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the folder the user named
    except OSError as exc:
        raise BundleFileError(f"{escape(str(folder))} is not a folder callproof can open ({exc.strerror})") from None
    for depth, part in enumerate(parts[:-1]):
        try:
            inner = os.open(part, _DIRECTORY, dir_fd=fd)
        except OSError as exc:
            os.close(fd)
            where = shown(folder, "/".join(parts[: depth + 1]))
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise BundleFileError(f"{where} is not a folder of the bundle (a link or a file)") from None
            if exc.errno == errno.ENOENT:
                raise FileNotFoundError(errno.ENOENT, "missing", where) from None
            raise BundleFileError(f"cannot open {where} ({exc.strerror})") from None
        os.close(fd)
        fd = inner
    return fd


def open_regular(folder: Path, name: str) -> int:
    """A read-only descriptor of the regular file `name` inside `folder`.

    FileNotFoundError when it does not exist; BundleFileError when it is anything but
    a regular file reached without a link.
    """
    parts = _parts(name)
    folder_fd = _open_folder(Path(folder), parts)
    try:
        try:
            before = os.stat(parts[-1], dir_fd=folder_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise BundleFileError(f"cannot read {shown(folder, name)} ({exc.strerror})") from None
        if not stat.S_ISREG(before.st_mode):
            raise BundleFileError(
                f"{shown(folder, name)} is {kind(before.st_mode)}; a bundle holds regular files only"
            )
        try:
            fd = os.open(parts[-1], _READ, dir_fd=folder_fd)
        except OSError as exc:
            raise BundleFileError(f"cannot read {shown(folder, name)} ({exc.strerror})") from None
        after = os.fstat(fd)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) or not stat.S_ISREG(after.st_mode):
            os.close(fd)
            raise BundleFileError(f"{shown(folder, name)} was replaced while callproof opened it")
        return fd
    finally:
        os.close(folder_fd)


def _too_big(folder: Path, name: str, size: int, limit: int) -> BundleFileError:
    return BundleFileError(
        f"{shown(folder, name)} holds {size:,} bytes, more than the {limit:,} callproof reads of it"
    )


@overload
def read_bytes(folder: Path, name: str, limit: int, *, missing_ok: Literal[False] = False) -> bytes: ...
@overload
def read_bytes(folder: Path, name: str, limit: int, *, missing_ok: bool) -> bytes | None: ...
def read_bytes(folder: Path, name: str, limit: int, *, missing_ok: bool = False) -> bytes | None:
    """The whole of a bundle's file, at most `limit` bytes; None when it is missing and missing_ok."""
    try:
        fd = open_regular(folder, name)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise BundleFileError(f"{escape(str(folder))} has no {escape(name)}; it is not a callproof output folder") \
            from None
    with os.fdopen(fd, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        if size > limit:
            raise _too_big(folder, name, size, limit)
        data = stream.read(limit + 1)  # the file may grow while it is read
    if len(data) > limit:
        raise _too_big(folder, name, len(data), limit)
    return data


def read_lines(folder: Path, name: str, *, line_limit: int = layout.MAX_LINE_BYTES,
               total_limit: int = layout.MAX_RECORDS_BYTES) -> Iterator[bytes]:
    """The lines of a bundle's records file, each at most `line_limit` bytes; nothing when it is missing."""
    try:
        fd = open_regular(folder, name)
    except FileNotFoundError:
        return
    with os.fdopen(fd, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        if size > total_limit:
            raise _too_big(folder, name, size, total_limit)
        total = 0
        number = 0
        while line := stream.readline(line_limit + 1):
            number += 1
            total += len(line)
            if len(line) > line_limit and not line.endswith(b"\n"):
                raise BundleFileError(
                    f"{shown(folder, name)}: line {number} is longer than the {line_limit:,} bytes callproof reads "
                    "of one record"
                )
            if total > total_limit:
                raise _too_big(folder, name, total, total_limit)
            yield line


def digest(folder: Path, name: str) -> tuple[str, int]:
    """SHA-256 (hex) and size of a bundle's regular file, read in blocks."""
    import hashlib

    with os.fdopen(open_regular(folder, name), "rb") as stream:
        sha = hashlib.file_digest(stream, "sha256")
        size = os.fstat(stream.fileno()).st_size
    return sha.hexdigest(), size


def contains_any(folder: Path, name: str, needles: tuple[bytes, ...]) -> bool:
    """Whether a bundle's regular file holds any of `needles` anywhere, read in blocks."""
    overlap = max((len(n) for n in needles), default=1) - 1
    tail = b""
    with os.fdopen(open_regular(folder, name), "rb") as stream:
        while block := stream.read(_BLOCK):
            window = tail + block
            if any(needle in window for needle in needles):
                return True
            tail = window[-overlap:] if overlap else b""
    return False


def being_written(folder: Path, names: list[str]) -> tuple[str, int] | None:
    """A file of `names` that some other process holds open for writing, and that process's PID (the first
    found); None when none is. Read from /proc: the processes this user may see (all of them, for root)."""
    wanted = {}
    for name in names:
        try:
            facts = os.stat(Path(folder) / name, follow_symlinks=False)
        except OSError:
            continue
        wanted[(facts.st_dev, facts.st_ino)] = name
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            descriptors = os.listdir(f"/proc/{entry.name}/fd")
        except OSError:  # gone, or not ours to see
            continue
        for fd in descriptors:
            try:
                facts = os.stat(f"/proc/{entry.name}/fd/{fd}")
                if (facts.st_dev, facts.st_ino) not in wanted:
                    continue
                with open(f"/proc/{entry.name}/fdinfo/{fd}", "rb") as info:
                    flags = int(next(line for line in info if line.startswith(b"flags:")).split()[1], 8)
            except (OSError, StopIteration, ValueError):
                continue
            if flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR):
                return wanted[(facts.st_dev, facts.st_ino)], int(entry.name)
    return None


def write_new(folder: Path, name: str, content: bytes) -> None:
    """Put `content` under `name` (a file directly in `folder`): a new file, renamed into place.

    A reader never sees half a file, and an entry already called `name` (a planted
    link, say) is replaced, never written through.
    """
    if len(_parts(name)) != 1:
        raise BundleFileError(f"{escape(name)} is not a file name")
    folder = Path(folder)
    folder_fd = _open_folder(folder, (name,))
    temporary = f".{name}.{secrets.token_hex(8)}.tmp"
    try:
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=folder_fd)
        except OSError as exc:
            raise BundleFileError(f"cannot write in {escape(str(folder))} ({exc.strerror})") from None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                os.fchmod(out.fileno(), 0o644)
            os.replace(temporary, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except BaseException as exc:
            os.unlink(temporary, dir_fd=folder_fd)
            if isinstance(exc, OSError):
                raise BundleFileError(f"cannot write {shown(folder, name)} ({exc.strerror})") from None
            raise
    finally:
        os.close(folder_fd)


def remove(folder: Path, name: str) -> None:
    """Remove the entry `name` directly in `folder`, if there is one (a link is removed, not followed)."""
    folder_fd = _open_folder(Path(folder), (name,))
    try:
        os.unlink(name, dir_fd=folder_fd)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise BundleFileError(f"cannot remove {shown(folder, name)} ({exc.strerror})") from None
    finally:
        os.close(folder_fd)


def walk(folder: Path) -> tuple[list[str], list[str]]:
    """(regular files, every other entry: links, FIFOs, devices, sockets), relative and sorted by UTF-8 bytes.

    Folders are descended without following links, at most layout.MAX_DEPTH levels;
    more than layout.MAX_ENTRIES entries in all is refused.
    """
    folder = Path(folder)
    files: list[str] = []
    others: list[str] = []
    pending = [(folder, PurePosixPath(), 0)]
    seen = 0
    while pending:
        directory, base, depth = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise BundleFileError(f"cannot list {escape(str(directory))} ({exc.strerror})") from None
        seen += len(entries)
        if seen > layout.MAX_ENTRIES:
            raise BundleFileError(
                f"{escape(str(folder))} holds more than {layout.MAX_ENTRIES:,} entries; no callproof bundle does"
            )
        for entry in entries:
            relative = (base / entry.name).as_posix()
            if entry.is_dir(follow_symlinks=False):
                if depth + 1 > layout.MAX_DEPTH:
                    raise BundleFileError(
                        f"{shown(folder, relative)} is nested deeper than the {layout.MAX_DEPTH} folder levels "
                        "callproof reads"
                    )
                pending.append((Path(entry.path), base / entry.name, depth + 1))
            elif entry.is_file(follow_symlinks=False):
                files.append(relative)
            else:
                others.append(relative)
    key = lambda p: p.encode("utf-8", "surrogateescape")  # noqa: E731 - byte order, as `sort` in the C locale
    return sorted(files, key=key), sorted(others, key=key)


def check_folder(folder: Path) -> list[str]:
    """Every regular file of a bundle; BundleFileError for the first entry that is anything else."""
    files, others = walk(folder)
    if others:
        name = others[0]
        try:
            mode = os.stat(Path(folder) / name, follow_symlinks=False).st_mode
        except OSError:
            mode = 0
        raise BundleFileError(f"{shown(folder, name)} is {kind(mode)}; a bundle holds regular files only")
    return files
