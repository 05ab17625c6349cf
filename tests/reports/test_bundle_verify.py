"""A signed bundle: every change is caught and named, and stock OpenSSH + coreutils agree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from callproof.reports import bundle, i18n, keys, layout, manifest, sign
from callproof.reports.check import check_bundle, describe
from callproof.reports.errors import ReportInputError
from callproof.reports.keys import TrustedKey
from tests.cli import callproof

# Its live tests run the CLI on files and load no pjsua2 (make test runs them once, in the built engine's pass).
pytestmark = pytest.mark.any_engine

EVIDENCE_DOC = Path(__file__).resolve().parents[2] / "docs" / "evidence-bundle.md"  # the buyers' page


def trusted(key_path: Path) -> list[TrustedKey]:
    return [TrustedKey(keys.load_public(keys.public_path(key_path)), "vendor")]


def all_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def stock_verify(folder: Path, key_path: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """The command the buyers' page and the report print, run by bash in the bundle folder."""
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"vendor@example {keys.public_path(key_path).read_text()}")
    command = i18n.STOCK_VERIFY.replace("-f allowed_signers", f"-f {allowed}").replace("-I ID", "-I vendor@example")
    return subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True, timeout=60)


def test_docs_and_report_print_the_same_stock_command(built_en):
    folder, _ = built_en
    assert i18n.STOCK_VERIFY in EVIDENCE_DOC.read_text(encoding="utf-8")
    assert (
        i18n.STOCK_VERIFY.replace("<", "&lt;").replace("&&", "&amp;&amp;") in (folder / layout.REPORT_HTML).read_text()
    )


def test_fresh_bundle_verifies_with_the_vendor_key(built_en, signing_key):
    folder, _ = built_en
    result = check_bundle(folder, trusted(signing_key))
    assert result.ok, describe(result, folder)
    listed = manifest.parse_sums((folder / layout.SHA256SUMS).read_bytes())
    assert sorted(listed) == [p for p in all_files(folder) if p not in (layout.SHA256SUMS, layout.SIGNATURE)]
    assert result.files_checked == len(listed) == 13


def test_stock_tools_verify_the_callproof_signature(built_en, signing_key, tmp_path):
    folder, _ = built_en
    result = stock_verify(folder, signing_key, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Good "callproof-bundle" signature for vendor@example' in result.stdout + result.stderr
    assert result.stdout.count(": OK\n") == 13


def test_every_byte_change_is_caught_and_named(bundle_copy, signing_key):
    for name in all_files(bundle_copy):
        path = bundle_copy / name
        original = path.read_bytes()
        for offset in sorted({0, len(original) // 2, len(original) - 1}):
            changed = bytearray(original)
            changed[offset] ^= 0x01
            path.write_bytes(bytes(changed))
            result = check_bundle(bundle_copy, trusted(signing_key))
            report = "\n".join(describe(result, bundle_copy))
            assert not result.ok, f"{name} byte {offset}"
            assert name in report, f"{name} byte {offset}: {report}"
            if name not in (layout.SHA256SUMS, layout.SIGNATURE):
                assert f"changed: {name}" in report.splitlines()
        path.write_bytes(original)
    assert check_bundle(bundle_copy, trusted(signing_key)).ok


def test_every_deletion_is_caught_and_named(bundle_copy, signing_key):
    for name in all_files(bundle_copy):
        path = bundle_copy / name
        original = path.read_bytes()
        path.unlink()
        result = check_bundle(bundle_copy, trusted(signing_key))
        report = "\n".join(describe(result, bundle_copy))
        assert not result.ok and name in report, report
        if name not in (layout.SHA256SUMS, layout.SIGNATURE):
            assert f"missing: {name}" in report.splitlines()
        path.write_bytes(original)
    assert "the bundle is unsigned: SHA256SUMS.sig is missing" in _report_without(
        bundle_copy, layout.SIGNATURE, signing_key
    )


def _report_without(folder: Path, name: str, key: Path) -> str:
    original = (folder / name).read_bytes()
    (folder / name).unlink()
    try:
        return "\n".join(describe(check_bundle(folder, trusted(key)), folder))
    finally:
        (folder / name).write_bytes(original)


@pytest.mark.parametrize("name", ["notes.txt", "audio/extra.wav", "captures/deep/x.pcap", "SHA256SUMS.bak"])
def test_every_addition_is_caught_and_named(bundle_copy, signing_key, name):
    (bundle_copy / name).parent.mkdir(parents=True, exist_ok=True)
    (bundle_copy / name).write_bytes(b"")
    result = check_bundle(bundle_copy, trusted(signing_key))
    assert not result.ok
    assert f"added: {name}" in describe(result, bundle_copy)


def test_a_symlink_is_not_a_bundle_file(bundle_copy, signing_key):
    (bundle_copy / "link").symlink_to(bundle_copy / layout.CALLS)
    assert "not a regular file: link" in describe(check_bundle(bundle_copy, trusted(signing_key)), bundle_copy)


@pytest.mark.e2e  # the CLI in a child process (tests/markers.py)
def test_forged_bundle_resigned_by_another_key_never_passes(bundle_copy, signing_key, other_key, tmp_path):
    # The forger edits the records, rebuilds the reports and signs with their own key.
    calls = bundle_copy / layout.CALLS
    calls.write_text(calls.read_text().replace('"final_code": 503', '"final_code": 200'))
    bundle.finalize(bundle_copy, key_path=other_key, notify=lambda m: None)
    forger = sign.fingerprint(keys.load_public(keys.public_path(other_key)))

    result = callproof("verify", str(bundle_copy), "--pubkey", str(keys.public_path(signing_key)))
    assert result.returncode == 1
    assert f"signed by another key ({forger}), not by the trusted key" in result.stdout

    anonymous = callproof("verify", str(bundle_copy))
    assert anonymous.returncode == 1
    assert f"signature: made by {forger}, but the signer is not authenticated" in anonymous.stdout

    stock = stock_verify(bundle_copy, signing_key, tmp_path)
    assert stock.returncode != 0


def test_stock_tools_catch_a_changed_file(bundle_copy, signing_key, tmp_path):
    (bundle_copy / layout.SUMMARY).write_text((bundle_copy / layout.SUMMARY).read_text().replace("FAIL", "PASS", 1))
    result = stock_verify(bundle_copy, signing_key, tmp_path)
    assert result.returncode == 1
    assert "summary.json: FAILED" in result.stdout


@pytest.mark.e2e  # the CLI in a child process (tests/markers.py)
def test_a_signature_made_by_ssh_keygen_verifies_with_callproof(bundle_copy, tmp_path):
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    bundle.finalize(bundle_copy, key_path=key, notify=lambda m: None)  # manifest.json names the signer's key
    (bundle_copy / layout.SIGNATURE).unlink()
    subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-f", str(key), "-n", "callproof-bundle", layout.SHA256SUMS],
        cwd=bundle_copy,
        check=True,
        capture_output=True,
        timeout=30,
    )
    result = callproof("verify", str(bundle_copy), "--pubkey", f"{key}.pub")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"OK: {bundle_copy} is intact (13 files) and signed by a trusted key"

    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'buyer@example namespaces="callproof-bundle" {Path(f"{key}.pub").read_text()}')
    found = callproof("verify", str(bundle_copy), "--allowed-signers", str(allowed), "--signer", "buyer@example")
    assert found.returncode == 0, found.stdout + found.stderr
    assert f"(trusted as buyer@example, {allowed.name} line 1 (buyer@example))" in found.stdout


@pytest.mark.e2e  # the CLI in a child process (tests/markers.py)
def test_verify_without_a_trusted_key_names_the_signer_and_fails(built_en, signing_key):
    folder, _ = built_en
    result = callproof("verify", str(folder))
    fingerprint = sign.fingerprint(keys.load_public(keys.public_path(signing_key)))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"signature: made by {fingerprint}, but the signer is not authenticated: "
        "pass --pubkey FILE, or --allowed-signers FILE --signer NAME, with a key you trust",
        f"FAIL: {folder}: intact (13 files match SHA256SUMS), but the signer is not authenticated",
    ]


@pytest.mark.e2e  # the CLI in a child process (tests/markers.py)
def test_verify_bad_arguments_exit_2_in_one_sentence(built_en, signing_key, tmp_path):
    folder, _ = built_en
    pub = str(keys.public_path(signing_key))
    cases = [
        (
            ["verify", str(folder), "--pubkey", pub, "--allowed-signers", pub],
            "callproof: argument --allowed-signers: not allowed with argument --pubkey\n",
        ),
        (
            ["verify", str(tmp_path / "absent"), "--pubkey", pub],
            f"callproof: {tmp_path / 'absent'} is not a bundle folder\n",
        ),
        (
            ["verify", str(folder), "--pubkey", str(tmp_path / "none.pub")],
            f"callproof: public key file {tmp_path / 'none.pub'} does not exist\n",
        ),
        (
            ["verify", str(folder), "--pubkey", str(folder / layout.SUMMARY)],
            f"callproof: {folder / layout.SUMMARY} is not an OpenSSH public key line\n",
        ),
    ]
    for args, stderr in cases:
        result = callproof(*args)
        assert (result.returncode, result.stderr) == (2, stderr), args


def test_an_unsigned_folder_fails(built_en, tmp_path, signing_key):
    folder, _ = built_en
    result = check_bundle(tmp_path, trusted(signing_key))
    assert describe(result, tmp_path) == [
        "SHA256SUMS is missing: nothing to check the files against",
        "the bundle is unsigned: SHA256SUMS.sig is missing",
        f"FAIL: {tmp_path}: the signature does not hold",
    ]


def test_sha256sums_is_byte_identical_to_coreutils(bundle_copy, signing_key):
    # Names sha256sum must escape (backslash, newline) and one it must not (space, UTF-8).
    for name in ("back\\slash.wav", "new\nline.wav", "with space é.wav"):
        (bundle_copy / layout.AUDIO_DIR / name).write_bytes(name.encode())
    bundle.finalize(bundle_copy, key_path=signing_key, notify=lambda m: None)
    listed = [p for p in manifest.walk(bundle_copy)[0]]
    coreutils = subprocess.run(
        ["sha256sum", "--", *listed],
        cwd=bundle_copy,
        capture_output=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},
        timeout=60,
    )
    assert (bundle_copy / layout.SHA256SUMS).read_bytes() == coreutils.stdout
    check = subprocess.run(
        ["sha256sum", "--strict", "-c", layout.SHA256SUMS], cwd=bundle_copy, capture_output=True, timeout=60
    )
    assert check.returncode == 0, check.stdout
    assert check_bundle(bundle_copy, trusted(signing_key)).ok


@pytest.mark.parametrize("leak", ["the key file", "its seed in hex", "its seed in base64, mid-line"])
def test_a_bundle_holding_the_signing_key_is_never_signed(bundle_copy, signing_key, leak):
    """Issue 14, section 1: a scenario's process `cat`ed the signing key into logs/process-*.log, the run signed
    it, and with that key a forged bundle verified. Now nothing is signed, and the sentence names the file."""
    import base64

    secret = keys.load_private(signing_key).private_bytes_raw()
    content = {"the key file": signing_key.read_bytes(),
               "its seed in hex": b"debug: seed=" + secret.hex().encode() + b"\n",
               "its seed in base64, mid-line": b"x" + base64.b64encode(b"\x01\x02" + secret + b"tail")}[leak]
    (bundle_copy / "logs").mkdir(exist_ok=True)
    (bundle_copy / "logs" / "process-thief.log").write_bytes(b"some output\n" * 100_000 + content + b"more\n")
    for name in ("SHA256SUMS", "SHA256SUMS.sig"):
        (bundle_copy / name).unlink()
    with pytest.raises(ReportInputError) as refused:
        bundle.finalize(bundle_copy, key_path=signing_key, notify=lambda m: None)
    assert str(refused.value) == (
        f"{bundle_copy / 'logs' / 'process-thief.log'} holds the private signing key {signing_key}, so callproof "
        "signs nothing with it: that key is no longer secret; make a new one (callproof keygen) and tell whoever "
        "trusts the old one to stop")
    assert not (bundle_copy / "SHA256SUMS.sig").exists()
