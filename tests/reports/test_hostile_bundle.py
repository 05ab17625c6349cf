"""A bundle from the other party (issue 14, sections 2 and 7): `callproof report` and `callproof verify`
on crafted bundles, keys and names.

Each case is the exact hostile file, the exit code and the one sentence; and nothing outside
the test's bundle changes (the parent folder's listing, sizes and mtimes are compared, and a
victim file beside the bundle keeps its bytes). Commands run as a user runs them, in a child
process, so a traceback or a hang cannot hide.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callproof.harness.verdict.summary import summarize
from callproof.reports import keys, layout, manifest, sign
from callproof.sip.engine.info import without_local_paths

# `callproof report` and `verify` in child processes (tests/markers.py), and `run` refusing a
# scenario before any engine starts.
pytestmark = [pytest.mark.e2e, pytest.mark.any_engine]

VICTIM_BYTES = b"a file of the receiver's, outside the bundle\n"


def callproof(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "callproof.harness.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def listing(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every entry under `root` but `skip`, links not followed."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path == skip or skip in path.parents:
            continue
        facts = os.lstat(path)
        out[str(path.relative_to(root))] = (facts.st_size, facts.st_mtime_ns)
    return out


class Received:
    """A copy of a signed bundle in parent/bundle, a victim file in parent/, and the signing key's folder."""

    def __init__(self, source: Path, parent: Path, key: Path) -> None:
        self.parent = parent
        self.folder = Path(shutil.copytree(source, parent / "bundle"))
        self.victim = parent / "victim.txt"
        self.victim.write_bytes(VICTIM_BYTES)
        self.key = key
        self.before = self.snapshot()

    def snapshot(self) -> tuple:
        return (listing(self.parent, self.folder), listing(self.key.parent, self.key.parent / "none"))

    def unchanged_outside(self) -> None:
        assert self.victim.read_bytes() == VICTIM_BYTES
        assert self.snapshot() == self.before

    def report(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return callproof("report", str(self.folder), "--key", str(self.key), *args, timeout=timeout)

    def verify(self, *args: str) -> subprocess.CompletedProcess:
        return callproof("verify", str(self.folder), *(args or ("--pubkey", str(keys.public_path(self.key)))))

    def resign(self, *, manifest_too: bool = True) -> None:
        """SHA256SUMS and its signature made again over the files as they are: a forger holding the key
        (a careful one: manifest.json's list of files is brought up to date first, unless manifest_too is False)."""
        if manifest_too:
            listed, _ = manifest.walk(self.folder)
            files = manifest.entries(self.folder, [p for p in listed if p != layout.MANIFEST])
            self.edit_json(layout.MANIFEST, lambda m: m.update(files=[dataclasses.asdict(f) for f in files]))
        listed, _ = manifest.walk(self.folder)
        sums = manifest.format_sums(manifest.entries(self.folder, listed))
        (self.folder / layout.SHA256SUMS).write_bytes(sums)
        signature = sign.sign(sums, keys.load_private(self.key), layout.SIGNATURE_NAMESPACE)
        (self.folder / layout.SIGNATURE).write_text(signature)

    def edit_json(self, name: str, change) -> None:
        path = self.folder / name
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data, indent=2) + "\n")


@pytest.fixture
def received(built_en, signing_key, tmp_path) -> Received:
    folder, _ = built_en
    return Received(folder, tmp_path / "parent", signing_key)


# -- `callproof report` on someone else's bundle -----------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "summary.json.tmp",  # the name write_summary used to write through, before any check
    layout.SUMMARY, layout.REPORT_HTML, layout.MANIFEST, layout.SIGNATURE,  # names report writes
])
def test_report_never_writes_through_a_planted_link(received, name):
    target = received.folder / name
    target.unlink(missing_ok=True)
    target.symlink_to(received.victim)
    result = received.report()
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"callproof: {target} is a symbolic link; a bundle holds regular files only\n"
    received.unchanged_outside()


@pytest.mark.parametrize("name", [layout.EVENTS, layout.CALLS, layout.SCENARIO, layout.ENGINE, layout.PROBES])
def test_report_reads_no_link_to_a_device(received, name):
    target = received.folder / name
    target.unlink()
    target.symlink_to("/dev/zero")  # read until MemoryError, before
    started = time.monotonic()
    result = received.report(timeout=60)
    assert time.monotonic() - started < 60
    assert (result.returncode, result.stderr) == (
        2, f"callproof: {target} is a symbolic link; a bundle holds regular files only\n")
    received.unchanged_outside()


def test_report_never_opens_a_fifo(received):
    target = received.folder / layout.EVENTS
    target.unlink()
    os.mkfifo(target)
    result = received.report(timeout=60)
    assert (result.returncode, result.stderr) == (
        2, f"callproof: {target} is a FIFO; a bundle holds regular files only\n")
    received.unchanged_outside()


def test_report_follows_no_linked_folder(received):
    shutil.rmtree(received.folder / layout.AUDIO_DIR)
    (received.folder / layout.AUDIO_DIR).symlink_to(received.parent)
    result = received.report()
    assert (result.returncode, result.stderr) == (
        2, f"callproof: {received.folder / layout.AUDIO_DIR} is a symbolic link; a bundle holds regular files only\n")
    received.unchanged_outside()


def test_report_caps_a_record_line(received):
    calls = received.folder / layout.CALLS
    number = calls.read_text().count("\n") + 1
    with open(calls, "ab") as out:
        out.write(b"{" + b" " * layout.MAX_LINE_BYTES + b"}\n")
    result = received.report()
    assert (result.returncode, result.stderr) == (
        2, f"callproof: {calls}: line {number} is longer than the 16,777,216 bytes callproof reads of one record\n")
    received.unchanged_outside()


@pytest.mark.parametrize("line, sentence", [
    ('{"call_id": "x", "final_ms": 1e400}', "line {n} is no record callproof reads: final_ms is not a finite number"),
    ("[" * 100_000 + "]" * 100_000, "line {n} is not JSON"),
    ('{"a": ' * 40 + "1" + "}" * 40, "line {n} is no record callproof reads: "
                                       "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a nests deeper "
                                       "than 32 levels"),
    ('"just text"', "line {n} is not a JSON object"),
])
def test_report_names_a_hostile_record_line(received, line, sentence):
    calls = received.folder / layout.CALLS
    sentence = sentence.format(n=calls.read_text().count("\n") + 1)
    with open(calls, "a") as out:
        out.write(line + "\n" + calls.read_text().splitlines()[0] + "\n")  # not the last line: corruption
    result = received.report()
    assert (result.returncode, result.stderr) == (2, f"callproof: {calls}: {sentence}\n")
    received.unchanged_outside()


@pytest.mark.parametrize("change, problem", [
    (lambda r: r.update(setup_ms=None, final_ms="soon"), "final_ms must be float or None, not str"),
    (lambda r: r.update(failure="exploded"), "failure 'exploded' is not one of no_answer, abandoned, rejected, "
                                             "timeout, transport_error, media_timeout"),
    (lambda r: r.update(provisional_ms=[[180]]), "provisional_ms must be a list of [status code, ms] pairs"),
    (lambda r: r.update(media={"codec": "PCMU/8000"}), "media must hold exactly MediaStats' fields (missing "),
    (lambda r: r.update(final_code=True), "final_code must be int or None, not bool"),
])
def test_report_checks_every_field_of_a_call_record(received, change, problem):
    calls = received.folder / layout.CALLS
    lines = calls.read_text().splitlines()
    first = json.loads(lines[0])
    change(first)
    calls.write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")
    result = received.report()
    assert result.returncode == 2
    assert result.stderr.startswith(f"callproof: {calls}: record 1 is not a call record ({problem}")
    assert result.stderr.count("\n") == 1
    received.unchanged_outside()


@pytest.mark.parametrize("name, change, sentence", [
    (layout.EVENTS, lambda e: e.update(kind="health", cpu_pct=[99]), "cpu_pct must be a number or null"),
    (layout.EVENTS, lambda e: e.update(at_utc=17), "at_utc must be an ISO 8601 time"),
    (layout.EVENTS, lambda e: e.pop("at_utc"), "has no at_utc"),
    (layout.PROBES, lambda p: p.update(kind="options", code=-1), "code must be a SIP status code (100-699) or null"),
    (layout.PROBES, lambda p: p.update(kind=["call"]), 'has kind ["call"], not call or options'),
])
def test_report_checks_the_documented_shape_of_events_and_probes(received, name, change, sentence):
    path = received.folder / name
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    change(first)
    path.write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")
    result = received.report()
    separator = " " if sentence.startswith(("has ", "is ")) else ": "
    assert (result.returncode, result.stderr) == (2, f"callproof: {path}: line 1{separator}{sentence}\n")
    received.unchanged_outside()


def test_report_refuses_a_number_json_cannot_hold(received):
    received.edit_json(layout.ENGINE, lambda e: e["media"].update(clock_rate="1e400"))
    engine = received.folder / layout.ENGINE
    engine.write_text(engine.read_text().replace('"1e400"', "1e400"))
    result = received.report()
    assert (result.returncode, result.stderr) == (
        2, f"callproof: {engine}: media.clock_rate is not a finite number\n")
    received.unchanged_outside()


# "Billion laughs": nine aliases of nine, nine levels deep, in 342 bytes (one of 402 bytes grew to 2.1 GB in 60 s).
BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
HOSTILE_YAML = {
    # A 402-byte "billion laughs": nine aliases of nine, nine levels deep (it grew to 2.1 GB in 60 s).
    "alias bomb": (BILLION_LAUGHS, "line 1: its aliases expand the file to more than 100,000 values"),
    "recursive alias": ("name: &loop [x, *loop]\n", "line 1: an alias refers to a value that contains it"),
    "5,000 levels": ("name: " + "[" * 5000 + "]" * 5000 + "\n", "line 1: the file nests deeper than 32 levels"),
    "big integer": ("seed: " + "7" * 4301 + "\n",
                    "line 1: an integer of 4,301 digits is no scenario value (callproof reads at most 4,300)"),
    "control character": ("name: ring\x07bell\n", "line 1: the file holds the character U+0007, which YAML does "
                                                  "not allow (control characters are refused)"),
    "too many aliases": ("a: &a 1\nb: [" + ", ".join(["*a"] * 101) + "]\n",
                         "line 2: the file uses aliases (*name) more than 100 times"),
    "impossible date": ("seed: 2026-13-45\n", "line 1: '2026-13-45' is not a valid timestamp (month must be in 1..12)"),
}


@pytest.mark.e2e  # rebuilds and renders the whole report
def test_report_judges_nothing_by_a_hostile_scenario_and_says_why(received):
    text, sentence = HOSTILE_YAML["alias bomb"]
    (received.folder / layout.SCENARIO).write_text(text)
    started = time.monotonic()
    result = received.report(timeout=60)
    assert time.monotonic() - started < 60
    assert result.returncode == 0, result.stderr
    reason = f"no thresholds to judge by: scenario.yaml, {sentence}"
    assert result.stderr == f"callproof report: nothing judged, INCONCLUSIVE: {reason}\n"
    summary = json.loads((received.folder / layout.SUMMARY).read_text())
    assert (summary["verdict"], summary["verdict_reason"]) == ("INCONCLUSIVE", reason)  # never null (issue 13)
    assert received.verify().returncode == 0  # rebuilt, re-signed and consistent
    received.unchanged_outside()


@pytest.mark.parametrize("case", sorted(HOSTILE_YAML))
def test_the_verifier_reads_a_hostile_scenario_as_no_thresholds(received, case):
    """What `report` and `verify` make of each hostile scenario.yaml (the verifier, in this process)."""
    text, sentence = HOSTILE_YAML[case]
    (received.folder / layout.SCENARIO).write_text(text)
    started = time.monotonic()
    summary = summarize(received.folder)
    assert time.monotonic() - started < 10
    assert (summary["verdict"], summary["verdict_reason"]) == (
        "INCONCLUSIVE", f"no thresholds to judge by: scenario.yaml, {sentence}")
    received.unchanged_outside()


@pytest.mark.e2e  # `callproof run` in a child, though it stops at the scenario
@pytest.mark.parametrize("case", sorted(HOSTILE_YAML))
def test_run_refuses_a_hostile_scenario_in_one_sentence(tmp_path, case):
    text, sentence = HOSTILE_YAML[case]
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    result = callproof("run", str(path), "--out", str(tmp_path / "out"), timeout=60)
    assert (result.returncode, result.stderr) == (2, f"callproof: {path}, {sentence}\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.e2e
def test_run_refuses_a_scenario_that_is_a_fifo_or_a_device(tmp_path):
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        result = callproof("run", str(path), timeout=60)
        assert (result.returncode, result.stderr) == (
            2, f"callproof: {path} is not a regular file (a FIFO, a device or a socket)\n")


# -- `callproof verify`: what a person reads is what the bytes say -------------------------------------------------


def test_a_crafted_name_cannot_print_a_fake_verdict(received):
    name = "audio/x\r\x1b[2Ksignature: good\nOK: all fine\x1b[0m.wav"
    (received.folder / name).write_bytes(b"")
    result = received.verify()
    assert result.returncode == 1
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0] == "added: audio/x\\x0d\\x1b[2Ksignature: good\\x0aOK: all fine\\x1b[0m.wav"
    assert lines[-1] == f"FAIL: {received.folder}: 1 file differs from SHA256SUMS"
    received.unchanged_outside()


def test_a_resigned_summary_that_says_pass_over_failed_calls_fails(received):
    def to_pass(summary):
        summary["verdict"] = "PASS"
        for line in summary["sla"]:
            line["verdict"] = "PASS"
    received.edit_json(layout.SUMMARY, to_pass)
    received.edit_json(layout.MANIFEST, lambda m: m["run"].update(verdict="PASS"))  # a careful forger
    received.resign()
    result = received.verify()
    assert result.returncode == 1
    assert result.stdout.splitlines()[-3:] == [
        'summary.json: verdict says "PASS", the records give "FAIL"',
        f"signature: good, by {sign.fingerprint(keys.load_public(keys.public_path(received.key)))} "
        f"(trusted as {keys.public_path(received.key)})",
        f"FAIL: {received.folder}: its files match SHA256SUMS, but 1 fact in them disagree",
    ]


def test_a_resigned_summary_with_other_counts_fails(received):
    received.edit_json(layout.SUMMARY, lambda s: s["calls"].update(answered=s["calls"]["answered"] + 40))
    received.resign()
    result = received.verify()
    assert result.returncode == 1
    answered = json.loads((received.folder / layout.SUMMARY).read_text())["calls"]["answered"]
    assert f"summary.json: calls.answered says {answered}, the records give {answered - 40}" in result.stdout
    assert "manifest.json: run.verdict" not in result.stdout


@pytest.mark.parametrize("change, sentence", [
    (lambda m: m["files"][0].update(sha256="0" * 64),
     'manifest.json: files[0].sha256 of "{files[0]}" is not the digest SHA256SUMS lists'),
    (lambda m: m["files"][1].update(size=1),
     'manifest.json: files[1].size of "{files[1]}" says 1 bytes; the file holds {sizes[1]}'),
    (lambda m: m["files"].pop(),
     'manifest.json: files does not list "{last}", which SHA256SUMS lists'),
    (lambda m: m["files"].append({"path": "elsewhere.txt", "sha256": "0" * 64, "size": 0}),
     'manifest.json: files[{count}].path is "elsewhere.txt", which SHA256SUMS does not list'),
    (lambda m: m["signer"].update(fingerprint="SHA256:someone-else"),
     'manifest.json: signer.fingerprint is "SHA256:someone-else", but SHA256SUMS.sig was made by SHA256:'),
    (lambda m: m["run"].update(verdict="PASS"), 'manifest.json: run.verdict says "PASS", summary.json says "FAIL"'),
    (lambda m: m["run"].update(interrupted=True),
     "manifest.json: run.interrupted says true, summary.json says false"),
    (lambda m: m["engine"].update(pjproject="9.9"), "manifest.json: engine is not what engine.json holds"),
    (lambda m: m.update(format="other/1"), 'manifest.json: format is "other/1", not \'callproof-manifest/1\''),
])
def test_a_resigned_manifest_that_lies_fails_naming_the_field(received, change, sentence):
    listed = json.loads((received.folder / layout.MANIFEST).read_text())["files"]
    sentence = sentence.format(files=[f["path"] for f in listed], sizes=[f["size"] for f in listed],
                               count=len(listed), last=listed[-1]["path"])
    received.edit_json(layout.MANIFEST, change)
    received.resign(manifest_too=False)
    result = received.verify()
    assert result.returncode == 1
    assert sentence in result.stdout.splitlines()[0], result.stdout
    assert result.stdout.splitlines()[-1].startswith(f"FAIL: {received.folder}: its files match SHA256SUMS, but ")


def test_a_fresh_bundle_passes_every_check(received):
    result = received.verify()
    assert (result.returncode, result.stdout.splitlines()[-1]) == (
        0, f"OK: {received.folder} is intact (13 files) and signed by a trusted key")


def test_verify_bounds_what_it_reads(received):
    (received.folder / layout.SUMMARY).write_bytes(b" " * (layout.MAX_FILE_BYTES[layout.SUMMARY] + 1))
    received.resign()
    result = received.verify()
    assert result.returncode == 1
    assert (f"{received.folder / layout.SUMMARY} holds 16,777,217 bytes, more than the 16,777,216 callproof reads "
            "of it") in result.stdout
    sums = received.folder / layout.SHA256SUMS
    sums.unlink()
    sums.symlink_to("/dev/zero")
    result = received.verify()
    assert result.returncode == 1
    assert f"{sums} is a symbolic link; a bundle holds regular files only" in result.stdout
    received.unchanged_outside()


# -- trusted keys and principals ----------------------------------------------------------------------------------


def allowed_signers(path: Path, *lines: tuple[str, Path]) -> Path:
    path.write_text("".join(f"{who} {keys.public_path(key).read_text()}" for who, key in lines))
    return path


def test_signer_names_the_principal_that_must_have_signed(received, other_key, tmp_path):
    path = allowed_signers(tmp_path / "allowed_signers", ("*@vendor.example", received.key),
                           ("buyer@example", other_key))
    good = received.verify("--allowed-signers", str(path), "--signer", "qa@vendor.example")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "(trusted as qa@vendor.example, allowed_signers line 1 (*@vendor.example))" in good.stdout
    # The buyer's own key is in the file too, but the bundle must be the vendor's: their key is not the signer.
    wrong = received.verify("--allowed-signers", str(path), "--signer", "buyer@example")
    assert wrong.returncode == 1
    assert "signed by another key (" in wrong.stdout and "), not by the trusted key" in wrong.stdout
    nobody = received.verify("--allowed-signers", str(path), "--signer", "nobody@else")
    assert (nobody.returncode, nobody.stderr) == (
        2, f"callproof: {path} trusts no Ed25519 key of 'nobody@else' for namespace 'callproof-bundle'\n")


def test_signer_and_allowed_signers_come_together(received, tmp_path):
    path = allowed_signers(tmp_path / "allowed_signers", ("vendor@example", received.key))
    alone = received.verify("--allowed-signers", str(path))
    assert (alone.returncode, alone.stderr) == (
        2, "callproof: --allowed-signers needs --signer NAME: the principal the bundle must be signed by "
           "(as ssh-keygen -Y verify -I NAME)\n")
    stray = received.verify("--pubkey", str(keys.public_path(received.key)), "--signer", "vendor@example")
    assert (stray.returncode, stray.stderr) == (
        2, "callproof: --signer names a principal of an allowed_signers file: give --allowed-signers FILE too\n")


def test_a_private_key_others_may_read_is_refused(received, tmp_path):
    key = tmp_path / "shared_key"
    shutil.copyfile(received.key, key)
    os.chmod(key, 0o644)
    result = callproof("report", str(received.folder), "--key", str(key))
    assert (result.returncode, result.stderr) == (
        2, f"callproof: signing key {key} may be read by group or others (mode 0644); keep it private, as "
           f"ssh-keygen requires: chmod 600 {key}\n")
    received.unchanged_outside()


@pytest.mark.parametrize("kind", ["device", "huge", "fifo"])
def test_a_key_that_is_not_a_key_file_is_one_sentence(received, tmp_path, kind):
    if kind == "device":
        key, sentence = Path("/dev/zero"), "signing key /dev/zero is not a regular file"
    elif kind == "fifo":
        key = tmp_path / "fifo_key"
        os.mkfifo(key, 0o600)
        sentence = f"signing key {key} is not a regular file"
    else:
        key = tmp_path / "huge_key"
        key.write_bytes(b"-" * (10 << 20))
        os.chmod(key, 0o600)
        sentence = f"{key} is larger than 65,536 bytes: it is not an OpenSSH private key"
    result = callproof("report", str(received.folder), "--key", str(key), timeout=60)
    assert (result.returncode, result.stderr) == (2, f"callproof: {sentence}\n")
    received.unchanged_outside()


def test_a_public_key_from_a_device_is_one_sentence(received):
    result = received.verify("--pubkey", "/dev/zero")
    assert (result.returncode, result.stderr) == (
        2, "callproof: public key file /dev/zero is larger than 1,048,576 bytes\n")


# -- what a bundle says about the machine that made it -------------------------------------------------------------


def test_engine_facts_carry_no_local_path():
    facts = {"engine": "built", "module_path": "/home/alice/work/.venv/lib/python3.11/site-packages/"
                                               "callproof-engine/pjsua2.py",
             "build": {"source": "pjproject tree /home/alice/src/pjproject-2.14", "source_digest": "ab12"},
             "io_queue": "epoll"}
    assert without_local_paths(facts) == {
        "engine": "built", "module_path": "callproof-engine/pjsua2.py",
        "build": {"source": "pjproject tree pjproject-2.14", "source_digest": "ab12"}, "io_queue": "epoll"}
    debian = {"module_path": "pjsua2/__init__.py", "build": {"source": "Debian source package ring 2023"}}
    assert without_local_paths(debian) == debian


# -- a bounded fuzz pass over the records ---------------------------------------------------------------------------

FUZZ_VALUES = ["x", "", None, True, -1, 0, 10**30, 1e308, [], {}, [1], {"a": 1}, "2026-11-20T10:00:00", 3.5]


def _mutate(value, rng) -> None:
    """Replace (or drop) one value somewhere inside a record, in place."""
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        if isinstance(value[key], dict | list) and value[key] and rng.random() < 0.5:
            _mutate(value[key], rng)
        elif rng.random() < 0.1:
            del value[key]
        else:
            value[key] = rng.choice(FUZZ_VALUES)
    elif isinstance(value, list) and value:
        index = rng.randrange(len(value))
        if isinstance(value[index], dict | list) and value[index] and rng.random() < 0.5:
            _mutate(value[index], rng)
        else:
            value[index] = rng.choice(FUZZ_VALUES)


def test_fuzzed_records_are_judged_or_refused_in_one_sentence(built_en, tmp_path):
    """Type-confused values in calls, events and probes: the verifier and the report's reader either work or
    raise the tool's bad-input errors (exit 2), never anything else."""
    import random

    from callproof.harness.errors import BadInput
    from callproof.reports import model
    from callproof.reports.errors import ReportInputError

    source, _ = built_en
    rng = random.Random(14)
    deadline = time.monotonic() + 90
    outcomes = {"judged": 0, "refused": 0}
    for case in range(250):
        if time.monotonic() > deadline:
            break
        folder = Path(shutil.copytree(source, tmp_path / f"case{case}"))
        name = rng.choice([layout.CALLS, layout.EVENTS, layout.PROBES])
        lines = (folder / name).read_text().splitlines()
        for _ in range(rng.randint(1, 3)):
            index = rng.randrange(len(lines))
            record = json.loads(lines[index])
            _mutate(record, rng)
            lines[index] = json.dumps(record)
        (folder / name).write_text("\n".join(lines) + "\n")
        try:
            summary = summarize(folder)
            (folder / layout.SUMMARY).write_text(json.dumps(summary, allow_nan=False))
            model.load(folder)
            outcomes["judged"] += 1
        except (BadInput, ReportInputError) as exc:
            assert "\n" not in str(exc)
            outcomes["refused"] += 1
        shutil.rmtree(folder)
    assert outcomes["judged"] >= 20 and outcomes["refused"] >= 20, outcomes
