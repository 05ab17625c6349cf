"""The default source through callproof's own apt lists: what apt is told, when it goes to the network.

A stand-in `apt-get` on PATH records every call (no network); one test reads the real
lists `callproof engine build` left in the machine's cache, with the system's apt
sources emptied.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from callproof.sip.engine import build as engine_build
from callproof.sip.engine import source as engine_source
from callproof.sip.engine.source import DEBIAN_KEYRING, PrivateApt
from callproof.sip.errors import EngineError, SipConfigError

DSC = "ring_20230206.0~ds2-1.1+deb12u1.dsc"
ORIG = "ring_20230206.0~ds2.orig.tar.gz"
DEBIAN = "ring_20230206.0~ds2-1.1+deb12u1.debian.tar.xz"
SHA = {DSC: "d" * 64, ORIG: "0" * 64, DEBIAN: "2" * 64}

FAKE_APT_GET = textwrap.dedent(f"""\
    #!/bin/sh
    # Records its arguments; `update` creates a Sources list where Dir::State::Lists says.
    echo "$*" >> "$FAKE_APT_LOG"
    for arg in "$@"; do
      case "$arg" in Dir::State::Lists=*) lists="${{arg#Dir::State::Lists=}}";; esac
    done
    case " $* " in
      *" update "*)
        if [ -n "$FAKE_APT_FAIL" ]; then
          echo "E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease"; exit 100
        fi
        touch "$lists/deb.debian.org_debian_dists_bookworm_main_source_Sources";;
      *" --print-uris "*)
        echo "Need to get 29.6 MB of source archives."
        echo "'http://deb.debian.org/debian/pool/main/r/ring/{DSC}' {DSC} 3154 SHA256:{SHA[DSC]}"
        echo "'http://deb.debian.org/debian/pool/main/r/ring/{ORIG}' {ORIG} 29621644 SHA256:{SHA[ORIG]}"
        echo "'http://deb.debian.org/debian/pool/main/r/ring/{DEBIAN}' {DEBIAN} 23944 SHA256:{SHA[DEBIAN]}";;
    esac
    """)


@pytest.fixture
def fake_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(FAKE_APT_GET)
    (bin_dir / "apt-get").chmod(0o755)
    log = tmp_path / "apt.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_APT_LOG", str(log))
    return log


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_apt_is_pointed_at_our_own_sources_lists_and_caches_only(tmp_path: Path) -> None:
    apt = PrivateApt(tmp_path / "apt")
    options = dict(arg.split("=", 1) for arg in apt.options()[1::2])
    assert options["Dir::Etc::SourceList"] == str(tmp_path / "apt" / "sources.list")
    assert options["Dir::Etc::SourceParts"] == "/nonexistent"  # the system's sources.list.d is not read
    assert options["Dir::State::Lists"] == str(tmp_path / "apt" / "lists")
    assert options["Dir::Cache"] == str(tmp_path / "apt" / "cache")
    assert options["APT::Default-Release"] == ""
    assert apt.sources_text().splitlines() == [
        f"deb-src [signed-by={DEBIAN_KEYRING}] http://deb.debian.org/debian bookworm main",
        f"deb-src [signed-by={DEBIAN_KEYRING}] http://deb.debian.org/debian bookworm-updates main",
        f"deb-src [signed-by={DEBIAN_KEYRING}] http://deb.debian.org/debian-security bookworm-security main",
    ]


def test_the_first_build_fetches_the_index_later_ones_stay_offline(fake_apt: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    source = engine_source.debian_source(cache)
    first = calls(fake_apt)
    assert [c.split()[-1] for c in first] == ["update", "ring"]  # update, then print-uris
    assert all("-o Dir::Etc::SourceList=" in c for c in first)
    assert (cache / "apt" / "sources.list").read_text() == PrivateApt(cache / "apt").sources_text()
    assert source.description == "Debian source package ring 20230206.0~ds2-1.1+deb12u1"
    assert source.debian_files == ((DSC, SHA[DSC]), (ORIG, SHA[ORIG]), (DEBIAN, SHA[DEBIAN]))

    # Lists present, files not downloaded yet: refresh before naming what to download.
    fake_apt.unlink()
    engine_source.debian_source(cache)
    assert [c.split()[-1] for c in calls(fake_apt)] == ["ring", "update", "ring"]

    # Lists present and files downloaded: no network at all, and the same identity.
    fake_apt.unlink()
    downloads = engine_source.downloads_dir(cache)
    downloads.mkdir(parents=True)
    for name in SHA:
        (downloads / name).write_bytes(b"x")
    assert engine_source.debian_source(cache) == source
    assert [c.split()[-1] for c in calls(fake_apt)] == ["ring"]


def test_an_unreachable_mirror_is_one_sentence(fake_apt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_APT_FAIL", "1")
    with pytest.raises(EngineError) as caught:
        engine_source.debian_source(tmp_path / "cache")
    assert str(caught.value) == (
        "apt could not read Debian's bookworm source index from deb.debian.org "
        "(E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease); "
        "check the network or give --source DIR (docs/engine.md)"
    )


def test_a_downloaded_file_that_does_not_match_the_index_is_removed(fake_apt: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    downloads = engine_source.downloads_dir(cache)
    downloads.mkdir(parents=True)
    for name in SHA:
        (downloads / name).write_bytes(b"not what the index says")
    source = engine_source.debian_source(cache)
    with pytest.raises(EngineError, match=r"does not have the SHA-256 Debian's index gives; removed it"):
        engine_source.download_debian_source(source, cache)
    assert not (downloads / DSC).exists()


def test_without_apt_the_user_is_told_to_give_a_tree(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SipConfigError, match=r"^no pjproject source: give --source DIR"):
        engine_source.debian_source(tmp_path)


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt")
def test_the_real_lists_need_no_apt_source_of_the_systems(tmp_path: Path) -> None:
    apt = PrivateApt(engine_build.cache_root() / "apt")
    if not apt.has_lists():
        pytest.skip("no engine build has fetched bookworm's source index on this machine yet")
    empty_config = tmp_path / "apt.conf"
    empty_config.write_text(f'Dir::Etc::SourceList "/dev/null";\nDir::Etc::SourceParts "{tmp_path}";\n')
    env = {**os.environ, "APT_CONFIG": str(empty_config)}
    system = subprocess.run(["apt-get", "source", "--print-uris", "ring"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert system.returncode != 0  # with the system's sources emptied, apt knows no ring...
    ours = subprocess.run(["apt-get", *apt.options(), "source", "--print-uris", "ring"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert ours.returncode == 0, ours.stderr  # ...but through our lists it does
    assert "/pool/main/r/ring/ring_" in ours.stdout and ".dsc" in ours.stdout
