"""Which of our pjproject patches each tree gets, and why: chosen by fork and version, never by trying.

The fixture trees hold only what identification reads (version.mak as each release
writes it, and for Jami's fork the trace line its TLS change adds); nothing is built.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from callproof.sip.engine import patches
from callproof.sip.engine.patches import (
    MEDIA_POLL_TIMEOUT,
    NEW_SOURCE_2_12,
    NEW_SOURCE_2_15,
    NEW_SOURCE_2_16,
    NO_TEXT_STREAM,
    REFUSE_UNSUITABLE_TRANSPORT,
    TLS_WITHOUT_LISTENER,
    TreeKind,
)
from callproof.sip.engine.source import tree_version
from callproof.sip.errors import EngineError, SipConfigError
from callproof.sip.ssrc_changes import RESTARTED

# version.mak's lines as the releases write them: 2.15, 2.16 and 2.17 leave REV empty.
VERSION_MAK = {
    "2.12.1": ("2", "12", "1"),
    "2.15": ("2", "15", ""),
    "2.15.1": ("2", "15", "1"),
    "2.16": ("2", "16", ""),
    "2.17": ("2", "17", ""),
}
# Jami's pjsip/src/pjsip/sip_transport.c (the line 0001 removes), abridged.
JAMI_TRANSPORT_C = """\
            if (flag & PJSIP_TRANSPORT_SECURE) {
                TRACE_((THIS_FILE, "Can't create new TLS transport with no "
                        "provided suitable TLS listener."));
                return PJSIP_ETPNOTSUITABLE;
            }
"""


def fixture_tree(root: Path, version: str, *, jami: bool = False) -> Path:
    major, minor, rev = VERSION_MAK[version]
    root.mkdir(parents=True)
    (root / "version.mak").write_text(
        f"# Don't change the version format unless you update the release scripts\n"
        f"export PJ_VERSION_MAJOR  := {major}\n"
        f"export PJ_VERSION_MINOR  := {minor}\n"
        f"export PJ_VERSION_REV    := {rev}\n"
        f"export PJ_VERSION_SUFFIX :=\n\n"
        f"export PJ_VERSION := $(PJ_VERSION_MAJOR).$(PJ_VERSION_MINOR)\n"
    )
    transport = root / "pjsip" / "src" / "pjsip" / "sip_transport.c"
    transport.parent.mkdir(parents=True)
    transport.write_text(JAMI_TRANSPORT_C if jami else "/* upstream: any factory of the destination's type */\n")
    return root


# (tree, the patches it gets) with the reason, as docs/engine.md tabulates it. Every tree counts the
# jump between two SSRCs' sequence numbers as loss: each gets 0005 in the shape of its receive path.
EXPECTED = [
    # Jami's fork (the default source): its TLS change reverted; upstream's later fixes backported.
    (("2.12.1", True), (TLS_WITHOUT_LISTENER, REFUSE_UNSUITABLE_TRANSPORT, MEDIA_POLL_TIMEOUT, NEW_SOURCE_2_12)),
    # Upstream 2.12.1 never had Jami's TLS change.
    (("2.12.1", False), (REFUSE_UNSUITABLE_TRANSPORT, MEDIA_POLL_TIMEOUT, NEW_SOURCE_2_12)),
    # 2.15 and 2.15.1 carry upstream's transport fix (#4192, 2.15) and 10 ms media poll (#3086, 2.13).
    (("2.15", False), (NEW_SOURCE_2_15,)),
    (("2.15.1", False), (NEW_SOURCE_2_15,)),
    # 2.16 and 2.17 offer a real-time text stream on every call, which hangups block on.
    (("2.16", False), (NO_TEXT_STREAM, NEW_SOURCE_2_16)),
    (("2.17", False), (NO_TEXT_STREAM, NEW_SOURCE_2_16)),
]


@pytest.mark.parametrize(("tree", "expected"), EXPECTED, ids=[f"{v}{'-jami' if j else ''}" for (v, j), _ in EXPECTED])
def test_each_known_tree_gets_its_patches(tmp_path: Path, tree: tuple[str, bool], expected: tuple[str, ...]) -> None:
    version, jami = tree
    kind = patches.identify(fixture_tree(tmp_path / "pjproject", version, jami=jami))
    assert kind == TreeKind("jami" if jami else "upstream", version)
    assert patches.select(kind) == expected


def test_the_table_is_exactly_the_trees_above() -> None:
    assert {(("jami" if jami else "upstream"), version): names for (version, jami), names in EXPECTED} == (
        patches.PATCH_SETS
    )


def test_releases_with_an_empty_rev_read_as_two_numbers(tmp_path: Path) -> None:
    # `:=` with nothing after it must not swallow the next line ("2.16.export").
    assert tree_version(fixture_tree(tmp_path / "a", "2.16")) == "2.16"
    assert tree_version(fixture_tree(tmp_path / "b", "2.15.1")) == "2.15.1"


@pytest.mark.parametrize("version", ["2.14", "2.18", "2.15.2"])
def test_a_tree_without_a_patch_set_is_refused_with_one_sentence(version: str) -> None:
    with pytest.raises(SipConfigError) as caught:
        patches.select(TreeKind("upstream", version))
    assert str(caught.value) == (
        f"callproof has no patch set for pjproject {version}: it builds 2.12.1 (Jami), 2.12.1, 2.15, 2.15.1, "
        "2.16, 2.17 (docs/engine.md, \"Sources\")"
    )


def test_jami_is_known_only_at_2_12_1() -> None:
    with pytest.raises(SipConfigError, match=r"no patch set for pjproject 2\.16 \(Jami's fork\)"):
        patches.select(TreeKind("jami", "2.16"))


def preamble(text: str) -> str:
    return text.split("\n--- ", 1)[0].strip()


def test_every_patch_is_used_and_every_named_patch_exists() -> None:
    named = {name for names in patches.PATCH_SETS.values() for name in names}
    assert named == set(patches.our_patches())


def test_each_patch_opens_with_one_paragraph_that_names_where_it_is_needed_and_why_not_elsewhere() -> None:
    texts = patches.our_patches()
    assert list(texts) == [
        "0001-tls-without-listener.patch",
        "0002-refuse-unsuitable-transport.patch",
        "0003-media-poll-timeout.patch",
        "0004-no-text-stream-by-default.patch",
        "0005-new-ssrc-is-a-new-source-2.12.1.patch",
        "0005-new-ssrc-is-a-new-source-2.15.patch",
        "0005-new-ssrc-is-a-new-source-2.16.patch",
    ]
    for name, text in texts.items():
        why = preamble(text)
        assert why and "\n\n" not in why, name
        assert len(re.findall(r"^\+\+\+ b/", text, flags=re.M)) >= 1, name
        for (fork, version), names in patches.PATCH_SETS.items():
            if name in names:
                assert version in why, f"{name} does not say why {version} needs it"
                assert fork != "jami" or "Jami" in why, name
    # Where a patch is not applied, its paragraph says what makes it unneeded there.
    assert "upstream pjproject never had this check" in preamble(texts[TLS_WITHOUT_LISTENER])
    assert "#4192" in preamble(texts[REFUSE_UNSUITABLE_TRANSPORT])
    assert "#3086" in preamble(texts[MEDIA_POLL_TIMEOUT])
    assert "earlier trees have no text streams" in preamble(texts[NO_TEXT_STREAM])
    for shape in (NEW_SOURCE_2_12, NEW_SOURCE_2_15, NEW_SOURCE_2_16):
        assert "get the same change" in preamble(texts[shape]), shape


def added_code(text: str) -> list[str]:
    """A patch's added lines, blanks and indentation dropped, written the same for every tree's names."""
    lines = [line[1:].strip() for line in text.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return [line.replace("c_strm->si->", "stream->si.").replace("c_strm->", "stream->") for line in lines if line]


def test_the_three_shapes_of_0005_make_one_change():
    # 2.12.1 indents with tabs, 2.15 with spaces, 2.16 moved the receive path to stream_imp_common.c
    # (and renamed the stream): one change, three contexts it must match exactly.
    texts = patches.our_patches()
    shapes = [texts[name] for name in (NEW_SOURCE_2_12, NEW_SOURCE_2_15, NEW_SOURCE_2_16)]
    assert added_code(shapes[0]) == added_code(shapes[1]) == added_code(shapes[2])
    # The common paragraph is one text: only the last sentence (which shape this file is) differs.
    common = {preamble(text).rsplit("This file is", 1)[0] for text in shapes}
    assert len(common) == 1
    code = added_code(shapes[0])
    # The log line says the statistics restarted: that is how callproof tells a separated loss.
    start = code.index("PJ_LOG(4,(stream->port.info.name.ptr,") + 1
    line = "".join(part.rstrip(",").strip('"') for part in code[start:start + 2])
    assert line == "Changed RTP peer SSRC %d (previously %d)" + RESTARTED


def run_patch(tree: Path):
    def run(name: str, text: str) -> subprocess.CompletedProcess:
        return subprocess.run(["patch", "-N", "-p1"], input=text, cwd=tree, capture_output=True, text=True)

    return run


A_PATCH = """Why: a test.

--- a/file.c
+++ b/file.c
@@ -1,1 +1,1 @@
-int timeout = 500;
+int timeout = 10;
"""


def test_a_selected_patch_that_does_not_apply_fails_the_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Never skipped: the table said this tree needs it, so the tree is not what the table thinks.
    monkeypatch.setattr(patches, "our_patches", lambda: {"9999-test.patch": A_PATCH})
    (tmp_path / "file.c").write_text("int timeout = 20;\n")
    with pytest.raises(EngineError, match=r"^callproof's 9999-test\.patch does not apply to this pjproject tree"):
        patches.apply(tmp_path, ("9999-test.patch",), run_patch(tmp_path))
    (tmp_path / "file.c").write_text("int timeout = 500;\n")
    patches.apply(tmp_path, ("9999-test.patch",), run_patch(tmp_path))
    assert (tmp_path / "file.c").read_text() == "int timeout = 10;\n"
