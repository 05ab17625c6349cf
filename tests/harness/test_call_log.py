"""calls.jsonl and agents.jsonl name a call's recording relative to the run folder, so a moved
bundle still resolves it and no local path goes into a bundle."""

from __future__ import annotations

import json

from callproof.harness.run.recorder import CallLog


def test_a_recording_is_named_relative_to_the_run_folder(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    log = CallLog(folder / "calls.jsonl")
    log.write({"call_id": "a", "recording": str(folder / "audio" / "call-0-000001.wav")})
    log.write({"call_id": "b", "recording": None})
    log.write({"call_id": "c", "recording": str(tmp_path / "elsewhere" / "call-0-000003.wav")})
    log.close()
    lines = [json.loads(line) for line in (folder / "calls.jsonl").read_text().splitlines()]
    assert [line["recording"] for line in lines] == ["audio/call-0-000001.wav", None, "call-0-000003.wav"]
