"""Which of our pjproject patches a tree gets, chosen by what the tree is, never by whether a patch applies.

A tree is identified by its version (version.mak) and fork: Jami's fork of 2.12.1
(the default source, Debian's `ring` package) or upstream pjproject (a release tree
given with --source). `PATCH_SETS` names the patches for each known tree; every
patch named must apply, and a tree that is in no row is refused, so a new
pjproject release is looked at (and measured by the build's self-check) before it
is built. Each patch opens with one paragraph saying what it fixes and where it is
needed; docs/engine.md has the table with the reasons.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import subprocess
from pathlib import Path
from typing import Callable

from callproof.sip.engine.source import tree_version
from callproof.sip.errors import EngineError, SipConfigError

# Jami's fork refuses outgoing TLS without a TLS listener with this trace line (0001 removes it);
# no upstream release has it.
JAMI_MARKER = "provided suitable TLS listener"
JAMI_MARKER_FILE = Path("pjsip/src/pjsip/sip_transport.c")

TLS_WITHOUT_LISTENER = "0001-tls-without-listener.patch"
REFUSE_UNSUITABLE_TRANSPORT = "0002-refuse-unsuitable-transport.patch"
MEDIA_POLL_TIMEOUT = "0003-media-poll-timeout.patch"
NO_TEXT_STREAM = "0004-no-text-stream-by-default.patch"
# One change (a new SSRC is a new source) in the three shapes pjmedia's receive path has had.
NEW_SOURCE_2_12 = "0005-new-ssrc-is-a-new-source-2.12.1.patch"
NEW_SOURCE_2_15 = "0005-new-ssrc-is-a-new-source-2.15.patch"
NEW_SOURCE_2_16 = "0005-new-ssrc-is-a-new-source-2.16.patch"

# (fork, version) -> our patches, in order. Why each is or is not in a row: the patch's first paragraph.
PATCH_SETS: dict[tuple[str, str], tuple[str, ...]] = {
    ("jami", "2.12.1"): (TLS_WITHOUT_LISTENER, REFUSE_UNSUITABLE_TRANSPORT, MEDIA_POLL_TIMEOUT, NEW_SOURCE_2_12),
    ("upstream", "2.12.1"): (REFUSE_UNSUITABLE_TRANSPORT, MEDIA_POLL_TIMEOUT, NEW_SOURCE_2_12),
    ("upstream", "2.15"): (NEW_SOURCE_2_15,),
    ("upstream", "2.15.1"): (NEW_SOURCE_2_15,),
    ("upstream", "2.16"): (NO_TEXT_STREAM, NEW_SOURCE_2_16),
    ("upstream", "2.17"): (NO_TEXT_STREAM, NEW_SOURCE_2_16),
}


@dataclasses.dataclass(frozen=True)
class TreeKind:
    fork: str  # "jami" or "upstream"
    version: str  # "2.12.1", "2.16"

    def __str__(self) -> str:
        return f"pjproject {self.version}" + (" (Jami's fork)" if self.fork == "jami" else "")


def identify(tree: Path) -> TreeKind:
    marker_file = tree / JAMI_MARKER_FILE
    jami = marker_file.is_file() and JAMI_MARKER in marker_file.read_text(errors="replace")
    return TreeKind("jami" if jami else "upstream", tree_version(tree))


def select(kind: TreeKind) -> tuple[str, ...]:
    """Our patches for this tree, or SipConfigError naming the trees we know."""
    try:
        return PATCH_SETS[(kind.fork, kind.version)]
    except KeyError:
        known = ", ".join(f"{version}" + (" (Jami)" if fork == "jami" else "") for fork, version in PATCH_SETS)
        raise SipConfigError(
            f"callproof has no patch set for {kind}: it builds {known} (docs/engine.md, \"Sources\")"
        ) from None


def our_patches() -> dict[str, str]:
    """name -> text of pjproject/patches/*.patch; each opens with a paragraph saying why and where."""
    folder = importlib.resources.files("callproof.sip.engine").joinpath("pjproject/patches")
    return {p.name: p.read_text() for p in sorted(folder.iterdir(), key=lambda p: p.name) if p.name.endswith(".patch")}


def apply(tree: Path, names: tuple[str, ...], run_patch: Callable[[str, str], subprocess.CompletedProcess]) -> None:
    """Apply our patches in order; one that does not apply is an error (the table above is wrong)."""
    texts = our_patches()
    for name in names:
        result = run_patch(name, texts[name])
        if result.returncode != 0:
            raise EngineError(f"callproof's {name} does not apply to this pjproject tree, which the patch table "
                              f"says it fits (sip/engine/patches.py); patch said: {_last_line(result)}")


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = (result.stdout + result.stderr).strip().splitlines()
    return lines[-1] if lines else f"exit {result.returncode}"
