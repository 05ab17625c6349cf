"""The engine build's pure parts: config_site.h, cache key, source digest, Debian's patches, error sentences."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from callproof.sip.engine import build as engine_build
from callproof.sip.engine import patches
from callproof.sip.engine import source as engine_source
from callproof.sip.engine.build import BuildConfig, Prerequisite
from callproof.sip.engine.info import describe, summary_line
from callproof.sip.engine.source import Source
from callproof.sip.errors import EngineError, SipConfigError

LIMITS_FOR_1024 = {
    "PJSUA_MAX_CALLS": 1024,
    "PJSUA_MAX_ACC": 1024,
    "PJSUA_MAX_PLAYERS": 1024,
    "PJSUA_MAX_RECORDERS": 1024,
    "PJSUA_MAX_CONF_PORTS": 3088,
    "PJ_IOQUEUE_MAX_HANDLES": 8192,
    "PJSIP_MAX_TSX_COUNT": 8191,
    "PJSIP_MAX_DIALOG_COUNT": 2047,
    "PJMEDIA_MAX_SDP_MEDIA": 4,
}

# pjproject 2.12.1's own defaults (pjsua.h, sip_config.h): a small engine keeps them.
LIMITS_FOR_4 = {
    "PJSUA_MAX_CALLS": 4,
    "PJSUA_MAX_ACC": 8,
    "PJSUA_MAX_PLAYERS": 32,
    "PJSUA_MAX_RECORDERS": 32,
    "PJSUA_MAX_CONF_PORTS": 254,
    "PJ_IOQUEUE_MAX_HANDLES": 8192,
    "PJSIP_MAX_TSX_COUNT": 1023,
    "PJSIP_MAX_DIALOG_COUNT": 511,
    "PJMEDIA_MAX_SDP_MEDIA": 4,
}


def defines_seen_by_the_compiler(header_text: str, tmp_path: Path) -> dict[str, int]:
    """The macros the C preprocessor itself reads from a header (an oracle independent of our template)."""
    header = tmp_path / "config_site.h"
    header.write_text(header_text)
    macros = subprocess.run(["cc", "-E", "-dM", "-x", "c", str(header)], capture_output=True, text=True, check=True)
    found = dict(re.findall(r"^#define (\w+) (\d+)$", macros.stdout, flags=re.M))
    return {name: int(found[name]) for name in LIMITS_FOR_1024 if name in found}


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C preprocessor")
@pytest.mark.parametrize(("max_calls", "expected"), [(1024, LIMITS_FOR_1024), (4, LIMITS_FOR_4)])
def test_config_site_defines_every_limit(max_calls: int, expected: dict[str, int], tmp_path: Path) -> None:
    text = BuildConfig(max_calls=max_calls).config_site_h()
    assert defines_seen_by_the_compiler(text, tmp_path) == expected


@pytest.mark.parametrize("max_calls", [0, 8193])
def test_max_calls_out_of_range_is_bad_input(max_calls: int) -> None:
    with pytest.raises(SipConfigError, match=rf"^--max-calls {max_calls} is not between 1 and 8192$"):
        BuildConfig(max_calls=max_calls)


def a_source(digest: str = "a" * 64) -> Source:
    return Source("test source", digest, tree=Path("/nonexistent"))


def test_cache_key_depends_on_source_and_configuration_only() -> None:
    key = engine_build.cache_key(a_source(), BuildConfig())
    assert re.fullmatch(r"[0-9a-f]{20}", key)
    assert engine_build.cache_key(a_source(), BuildConfig(max_calls=1024)) == key
    assert engine_build.cache_key(a_source("b" * 64), BuildConfig()) != key
    assert engine_build.cache_key(a_source(), BuildConfig(max_calls=512)) != key


def test_cache_key_changes_with_our_patches_and_their_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    key = engine_build.cache_key(a_source(), BuildConfig())
    texts = patches.our_patches()
    monkeypatch.setattr(patches, "our_patches", lambda: {**texts, "9999-extra.patch": "text"})
    assert engine_build.cache_key(a_source(), BuildConfig()) != key
    monkeypatch.setattr(patches, "our_patches", lambda: texts)
    assert engine_build.cache_key(a_source(), BuildConfig()) == key
    monkeypatch.setitem(patches.PATCH_SETS, ("upstream", "2.15"), (patches.NO_TEXT_STREAM,))
    assert engine_build.cache_key(a_source(), BuildConfig()) != key


def test_an_engine_cached_before_patch_0005_is_not_a_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine whose cache holds an engine built without 0005 (a new SSRC is a new source) builds again."""
    key = engine_build.cache_key(a_source(), BuildConfig())
    texts = patches.our_patches()
    monkeypatch.setattr(patches, "our_patches",
                        lambda: {name: text for name, text in texts.items() if not name.startswith("0005-")})
    for tree, names in list(patches.PATCH_SETS.items()):
        monkeypatch.setitem(patches.PATCH_SETS, tree, tuple(n for n in names if not n.startswith("0005-")))
    assert engine_build.cache_key(a_source(), BuildConfig()) != key


def test_cache_root_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert engine_build.cache_root() == tmp_path / "callproof" / "engine"
    assert engine_build.cached_engine("0" * 20) is None


def write_tree(root: Path, version: str = "2.16") -> None:
    (root / "pjlib" / "include" / "pj").mkdir(parents=True)
    (root / "pjlib" / "include" / "pj" / "config.h").write_text("/* config */\n")
    (root / "aconfigure").write_text("#!/bin/sh\n")
    major, minor, *rev = version.split(".")
    (root / "version.mak").write_text(
        f"export PJ_VERSION_MAJOR  := {major}\nexport PJ_VERSION_MINOR  := {minor}\n"
        f"export PJ_VERSION_REV    := {rev[0] if rev else ''}\nexport PJ_VERSION_SUFFIX :=\n"
    )


def test_tree_digest_follows_content_and_ignores_build_products(tmp_path: Path) -> None:
    write_tree(tmp_path)
    before = engine_source.tree_digest(tmp_path)
    (tmp_path / "pjlib" / "build" / "output").mkdir(parents=True)
    (tmp_path / "pjlib" / "build" / "output" / "os_core.o").write_bytes(b"\x7fELF")
    (tmp_path / "pjlib" / "lib").mkdir()
    (tmp_path / "pjlib" / "lib" / "libpj.a").write_bytes(b"!<arch>\n")
    assert engine_source.tree_digest(tmp_path) == before
    (tmp_path / "aconfigure").write_text("#!/bin/sh\nexit 0\n")
    assert engine_source.tree_digest(tmp_path) != before


def test_tree_source_accepts_a_pjproject_tree(tmp_path: Path) -> None:
    write_tree(tmp_path)
    source = engine_build.locate_source(tmp_path)
    assert source.tree == tmp_path.resolve()
    assert source.description == f"pjproject tree {tmp_path.resolve()}"
    assert source.digest == engine_source.tree_digest(tmp_path)


def test_a_tree_callproof_has_no_patch_set_for_is_refused_before_building(tmp_path: Path) -> None:
    write_tree(tmp_path, "2.14")
    with pytest.raises(SipConfigError, match=r"^callproof has no patch set for pjproject 2\.14: it builds "):
        engine_build.locate_source(tmp_path)


def test_a_directory_that_is_no_pjproject_tree_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(SipConfigError) as caught:
        engine_build.locate_source(tmp_path)
    assert str(caught.value) == (
        f"--source {tmp_path} is not a pjproject tree (it needs pjlib/include/pj/config.h and aconfigure)"
    )


# The opening of Debian's debian/patches/CVE-2023-27585_ring.patch (ring 20230206.0~ds2-1.1+deb12u1).
DEBIAN_CVE_PATCH_HEAD = """\
From: Sauw Ming <ming@teluu.com>
Index: ring-20230206.0~ds2/daemon/contrib/tarballs-unpacked/pjproject-3b78ef1c48732d238ba284cdccb04dc6de79c54f.tar.gz/pjproject-3b78ef1c48732d238ba284cdccb04dc6de79c54f/pjlib-util/src/pjlib-util/dns.c
===================================================================
--- ring-20230206.0~ds2.orig/daemon/contrib/tarballs-unpacked/pjproject-3b78ef1c48732d238ba284cdccb04dc6de79c54f.tar.gz/pjproject-3b78ef1c48732d238ba284cdccb04dc6de79c54f/pjlib-util/src/pjlib-util/dns.c
+++ ring-20230206.0~ds2/daemon/contrib/tarballs-unpacked/pjproject-3b78ef1c48732d238ba284cdccb04dc6de79c54f.tar.gz/pjproject-3b78ef1c48732d238ba284cdccb04dc6de79c54f/pjlib-util/src/pjlib-util/dns.c
@@ -128,6 +128,9 @@ static pj_status_t get_name_len(int rec_
"""  # noqa: E501 - Debian's patch, verbatim
DEBIAN_CMAKE_PATCH_HEAD = """\
--- a/daemon/CMakeLists.txt
+++ b/daemon/CMakeLists.txt
@@ -1,3 +1,4 @@
"""


def test_debian_pjproject_patch_strips_to_the_tree() -> None:
    # ring-V / daemon / contrib / tarballs-unpacked / pjproject-SHA.tar.gz / pjproject-SHA / pjlib-util/...
    assert engine_source.pjproject_strip_level(DEBIAN_CVE_PATCH_HEAD) == 6
    assert engine_source.pjproject_strip_level(DEBIAN_CMAKE_PATCH_HEAD) is None


def test_a_debian_patch_spanning_pjproject_and_other_files_is_refused() -> None:
    with pytest.raises(EngineError, match="touches the pjproject tree and other files"):
        engine_source.pjproject_strip_level(DEBIAN_CVE_PATCH_HEAD + DEBIAN_CMAKE_PATCH_HEAD)


def test_missing_prerequisites_make_one_sentence_naming_the_packages() -> None:
    required = (
        Prerequisite("no-such-tool-callproof", "pkg-one", "program"),
        Prerequisite("callproof/no-such-header.h", "libnothing-dev", "header"),
        Prerequisite("another-missing-callproof-tool", "pkg-one", "program"),
    )
    if shutil.which("cc") is None:
        pytest.skip("headers are checked with the C preprocessor")
    with pytest.raises(SipConfigError) as caught:
        engine_build.require_prerequisites(required)
    assert str(caught.value) == (
        "engine build needs no-such-tool-callproof, another-missing-callproof-tool, callproof/no-such-header.h: "
        "install the Debian packages pkg-one libnothing-dev (apt-get install pkg-one libnothing-dev)"
    )


def test_the_default_source_also_needs_apt_and_debians_keyring(tmp_path: Path) -> None:
    default = {p.package for p in engine_build.prerequisites_for(None)}
    tree = {p.package for p in engine_build.prerequisites_for(tmp_path)}
    assert default - tree == {"apt", "debian-archive-keyring"}
    if shutil.which("cc") is None:
        pytest.skip("headers are checked with the C preprocessor")
    keyring = Prerequisite(str(tmp_path / "keyring.gpg"), "debian-archive-keyring", "file")
    with pytest.raises(SipConfigError) as caught:
        engine_build.require_prerequisites((keyring,))
    assert str(caught.value) == (
        f"engine build needs {tmp_path / 'keyring.gpg'}: install the Debian packages debian-archive-keyring "
        "(apt-get install debian-archive-keyring)"
    )


def test_present_prerequisites_pass() -> None:
    if shutil.which("cc") is None:
        pytest.skip("headers are checked with the C preprocessor")
    engine_build.require_prerequisites(
        (Prerequisite("sh", "dash", "program"), Prerequisite("stdio.h", "libc6-dev", "header"))
    )


PROBE = {
    "engine": "built",
    "module_path": "/venv/lib/python3.11/site-packages/callproof-engine/pjsua2.py",
    "wheel_version": None,
    "pjproject_version": "2.12.1",
    "max_calls_per_process": 1024,
    "io_queue": "epoll-exclusive",
    "io_queue_kind": "epoll",
    "codecs": ["PCMU/8000/1", "PCMA/8000/1"],
    "media": {"clock_rate": 8000, "vad": False},
    "build": {"source": "Debian source package ring 1", "patches": ["a.patch"], "built_utc": "T", "key": "k"},
}


def test_summary_line_for_a_run_start() -> None:
    assert summary_line(PROBE) == (
        "pjsua2 built engine (pjproject 2.12.1): 1024 calls per process, epoll-exclusive I/O queue, bridge 8000 Hz"
    )


def test_info_lines() -> None:
    assert describe(PROBE) == [
        "pjsua2         built engine: /venv/lib/python3.11/site-packages/callproof-engine/pjsua2.py",
        "pjproject      2.12.1",
        "calls/process  1024",
        "I/O queue      epoll (epoll-exclusive)",
        "codecs         PCMU/8000/1 PCMA/8000/1",
        "media          clock_rate 8000, vad False",
        "built from     Debian source package ring 1, patches: a.patch",
        "built          T, cache key k",
    ]
