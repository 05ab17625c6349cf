"""Where the engine's pjproject tree comes from: a tree the user gives, or Debian's `ring` source package.

    --source DIR   any pjproject tree (an upstream release, see docs/engine.md), identified by a
                   SHA-256 over its files
    default        Debian 12's `ring` source package (Jami, with its pjproject 2.12.1 fork), fetched
                   with apt through callproof's own sources list and lists in the engine cache, so
                   it works the same on Debian 12, Debian 13 (which has no ring, jami or pjproject
                   source) and any system with apt and Debian's archive keyring, without touching
                   the system's apt configuration. Identified by the SHA-256s its signed index
                   gives for the package's files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from callproof.sip.errors import EngineError, SipConfigError

DEBIAN_SOURCE_PACKAGE = "ring"
DEBIAN_PJPROJECT_DIR = "tarballs-unpacked"  # daemon/contrib/tarballs-unpacked/pjproject-SHA.tar.gz/pjproject-SHA/
# bookworm (Debian 12) is the last release with a ring source package; its point and security
# updates may replace the package, so all three suites are listed and apt takes the newest.
DEBIAN_SOURCES = (
    ("http://deb.debian.org/debian", "bookworm"),
    ("http://deb.debian.org/debian", "bookworm-updates"),
    ("http://deb.debian.org/debian-security", "bookworm-security"),
)
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")  # package debian-archive-keyring

# Build products a user's tree may hold from an earlier in-place build: never copied, never hashed.
TREE_IGNORE = (".git", "output", "*.o", "*.a", "*.so", "*.depend")


@dataclasses.dataclass(frozen=True)
class Source:
    """Where the pjproject tree comes from, identified by a digest of its content."""

    description: str
    digest: str
    tree: Path | None = None  # --source DIR
    debian_files: tuple[tuple[str, str], ...] = ()  # (file name, SHA-256) from apt, .dsc first


def tree_source(path: Path) -> Source:
    if not (path / "pjlib" / "include" / "pj" / "config.h").is_file() or not (path / "aconfigure").is_file():
        raise SipConfigError(
            f"--source {path} is not a pjproject tree (it needs pjlib/include/pj/config.h and aconfigure)"
        )
    root = path.resolve()
    return Source(f"pjproject tree {root}", tree_digest(root), tree=root)


def tree_digest(root: Path) -> str:
    """SHA-256 over every file's relative path and bytes, build products excluded."""
    digest = hashlib.sha256()
    ignore = shutil.ignore_patterns(*TREE_IGNORE)
    for directory, dirnames, filenames in os.walk(root):
        skipped = ignore(directory, dirnames + filenames)
        dirnames[:] = sorted(d for d in dirnames if d not in skipped)
        for name in sorted(f for f in filenames if f not in skipped):
            path = Path(directory, name)
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(os.readlink(path).encode() if path.is_symlink() else path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


class PrivateApt:
    """apt with callproof's own sources list, lists and caches under `root`; the system's apt
    configuration (its sources, pins, default release) is neither read for sources nor changed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sources_list = root / "sources.list"
        self.updated = False  # in this process

    def sources_text(self) -> str:
        return "".join(
            f"deb-src [signed-by={DEBIAN_KEYRING}] {uri} {suite} main\n" for uri, suite in DEBIAN_SOURCES
        )

    def options(self) -> list[str]:
        settings = {
            "Dir::Etc::SourceList": str(self.sources_list),
            "Dir::Etc::SourceParts": "/nonexistent",
            "Dir::Etc::Preferences": "/nonexistent",
            "Dir::Etc::PreferencesParts": "/nonexistent",
            "Dir::State::Lists": str(self.root / "lists"),
            "Dir::Cache": str(self.root / "cache"),
            "APT::Default-Release": "",  # a system's "trixie" would name a release this list lacks
        }
        if os.geteuid() == 0:
            # apt drops to the _apt user to download, who cannot enter root's home where the lists live.
            settings["APT::Sandbox::User"] = "root"
        return [arg for key, value in settings.items() for arg in ("-o", f"{key}={value}")]

    def has_lists(self) -> bool:
        return any((self.root / "lists").glob("*_source_Sources*"))

    def update(self) -> None:
        """Fetch the suites' signed source indexes (about 10 MB)."""
        for folder in ("lists/partial", "cache/archives/partial"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self.sources_list.write_text(self.sources_text())
        result = self._apt(["update"])
        problems = [line for line in result.stdout.splitlines() + result.stderr.splitlines()
                    if line.startswith(("E:", "W:", "Err:"))]
        if result.returncode != 0 or problems:
            reason = (problems or [f"exit {result.returncode}"])[-1]
            raise EngineError(
                f"apt could not read Debian's bookworm source index from deb.debian.org ({reason}); "
                "check the network or give --source DIR (docs/engine.md)"
            )
        self.updated = True

    def print_uris(self, package: str) -> list[re.Match]:
        with tempfile.TemporaryDirectory() as empty:
            # In an empty directory: apt lists nothing it finds already downloaded in the working directory.
            result = self._apt(["source", "--print-uris", package], cwd=Path(empty))
        files = [m for m in map(_PRINT_URI.match, result.stdout.splitlines()) if m]
        if result.returncode != 0 or not any(m["name"].endswith(".dsc") for m in files):
            output = (result.stderr or result.stdout).strip().splitlines()
            reason = output[-1] if output else f"exit {result.returncode}"
            raise EngineError(f"Debian's source package {package} is not in bookworm's index ({reason}); "
                              "give --source DIR (docs/engine.md)")
        return files

    def download(self, package: str, into: Path) -> subprocess.CompletedProcess:
        return self._apt(["source", "--download-only", package], cwd=into)

    def _apt(self, args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["apt-get", "-q", *self.options(), *args], cwd=cwd, capture_output=True, text=True)


_PRINT_URI = re.compile(r"^'(?P<uri>[^']+)' (?P<name>\S+) (?P<size>\d+) SHA256:(?P<sha256>[0-9a-f]{64})$")


def debian_source(cache: Path) -> Source:
    """Debian's `ring` source package as bookworm's signed index describes it.

    The network is used only when needed: to fetch the index the first time, and to
    refresh it before downloading (a point or security update may have replaced the
    version an older index names). Files already downloaded are built offline.
    """
    if shutil.which("apt-get") is None:
        raise SipConfigError(
            "no pjproject source: give --source DIR (a pjproject tree, docs/engine.md), "
            "or build where apt is installed, which fetches Debian's ring source package"
        )
    apt = PrivateApt(cache / "apt")
    if not apt.has_lists():
        apt.update()
    files = apt.print_uris(DEBIAN_SOURCE_PACKAGE)
    if not apt.updated and not all((downloads_dir(cache) / m["name"]).is_file() for m in files):
        apt.update()
        files = apt.print_uris(DEBIAN_SOURCE_PACKAGE)
    dsc = next(m for m in files if m["name"].endswith(".dsc"))
    version = dsc["name"].removeprefix(f"{DEBIAN_SOURCE_PACKAGE}_").removesuffix(".dsc")
    named = tuple((m["name"], m["sha256"]) for m in [dsc, *(m for m in files if m is not dsc)])
    digest = hashlib.sha256("".join(f"{name} {sha}\n" for name, sha in sorted(named)).encode())
    return Source(f"Debian source package {DEBIAN_SOURCE_PACKAGE} {version}", digest.hexdigest(), debian_files=named)


def downloads_dir(cache: Path) -> Path:
    return cache / "sources" / DEBIAN_SOURCE_PACKAGE


def download_debian_source(source: Source, cache: Path) -> Path:
    """The package's files in the cache, each checked against the SHA-256 the signed index gave."""
    into = downloads_dir(cache)
    into.mkdir(parents=True, exist_ok=True)
    if not all((into / name).is_file() for name, _ in source.debian_files):
        result = PrivateApt(cache / "apt").download(DEBIAN_SOURCE_PACKAGE, into)
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            raise EngineError(f"apt-get source {DEBIAN_SOURCE_PACKAGE} failed ({lines[-1] if lines else 'no output'})")
    for name, sha256 in source.debian_files:
        if _sha256(into / name) != sha256:
            (into / name).unlink()
            raise EngineError(f"{into / name} does not have the SHA-256 Debian's index gives; removed it, try again")
    return into


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pjproject_strip_level(patch_text: str) -> int | None:
    """The `patch -p` level that makes a Debian ring patch apply inside the pjproject tree, or None if it touches none.

    Paths look like ring-VERSION/daemon/contrib/tarballs-unpacked/pjproject-SHA.tar.gz/pjproject-SHA/FILE.
    """
    levels = set()
    for line in patch_text.splitlines():
        if line.startswith("+++ "):
            parts = line[4:].split("\t")[0].split("/")
            levels.add(parts.index(DEBIAN_PJPROJECT_DIR) + 3 if DEBIAN_PJPROJECT_DIR in parts else -1)
    if not levels or levels == {-1}:
        return None
    if len(levels) != 1:
        raise EngineError("a Debian patch touches the pjproject tree and other files at once; cannot apply it")
    return levels.pop()


def tree_version(tree: Path) -> str:
    """pjproject's version from version.mak: MAJOR.MINOR, then .REV when there is one (2.16, 2.15.1)."""
    text = (tree / "version.mak").read_text()
    values = dict(re.findall(r"^export PJ_VERSION_(MAJOR|MINOR|REV)[ \t]*:=[ \t]*(\S*)[ \t]*$", text, flags=re.M))
    return ".".join(v for v in (values.get("MAJOR"), values.get("MINOR"), values.get("REV")) if v)
