"""The run's output folder: the one interface between running and reporting.

`callproof run` writes it; `callproof report` rebuilds everything derived from
the records alone, so a killed run or another machine can still produce the
report. File names below are the only ones code may use (import them).

    scenario.yaml     the scenario exactly as run (with --target/--duration applied)
    calls.jsonl       one `sip.records.CallRecord.to_dict()` per line, appended and
                      flushed as each call ends; readers tolerate a truncated last line
    agents.jsonl      embedded target only: the record of every call our agents took
                      (direction "inbound"), as they saw it
    probes.jsonl      availability probes beside the load, one JSON object per line:
                      {"kind": "call"|"options", "at_utc", "ok", "code", "reason",
                       "setup_ms", "failure"}
    events.jsonl      the run's timeline, one JSON object per line: {"at_utc", "kind", ...}
                      kinds: run_start, shape (target users/rate), fault, breaker,
                      health (generator CPU, loop lag, starved calls), run_end
    engine.json       the pjsua2 engine in use: version, per-process call capacity,
                      I/O queue, media settings
    summary.json      derived from the records (see harness.summary):
                      calls.{attempted,answered,abandoned,failed}, setup_ms/answer_ms
                      {p50,p95,p99}, failures{reason: count}, timing_resolution_ms,
                      later sla[], verdict, availability_pct, outages[], rto_s
    audio/            recorded call samples (WAV), named by Call-ID
    captures/         capture samples (pcap)
    report.html, report.pdf, junit.xml
    manifest.json     every file's SHA-256 and size, tool/engine/host facts, times, seed
    SHA256SUMS        `sha256sum` format, signed by SHA256SUMS.sig (SSHSIG, Ed25519,
                      namespace "callproof-bundle")
"""

SCENARIO = "scenario.yaml"
CALLS = "calls.jsonl"
AGENTS = "agents.jsonl"
PROBES = "probes.jsonl"
EVENTS = "events.jsonl"
ENGINE = "engine.json"
SUMMARY = "summary.json"
AUDIO_DIR = "audio"
CAPTURES_DIR = "captures"
REPORT_HTML = "report.html"
REPORT_PDF = "report.pdf"
JUNIT = "junit.xml"
MANIFEST = "manifest.json"
SHA256SUMS = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"
SIGNATURE_NAMESPACE = "callproof-bundle"
