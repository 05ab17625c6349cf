"""The run's output folder: the one interface between running and reporting.

`callproof run` writes it; `callproof report` rebuilds everything derived from
the records alone, so a killed run or another machine can still produce the
report. File names below are the only ones code may use (import them).

    scenario.yaml     the scenario exactly as run (with --target/--duration applied)
    calls.jsonl       one `callproof.sip.records.CallRecord.to_dict()` per line, appended and
                      flushed as each call ends; readers tolerate a truncated last line.
                      Every call the run placed has its line, also one the run's end hung
                      up (failure "stopped"). A DTMF step that could not be delivered ends
                      the call with failure "dtmf_failed" and says how in
                      dtmf_failure_method ("rfc4733" | "info") and dtmf_failure_reason (one
                      sentence); dtmf_sent holds the digits that were delivered.
                      Its "media" (MediaStats) holds rx_ssrc_changes (times the received SSRC
                      changed: a new source, RFC 3550 8.2) and rx_loss_separated (false: the
                      engine counted a change into rx_lost and the rx jitter, so the call's
                      loss, jitter and MOS are left out; docs/sla-and-verdicts.md)
    control.jsonl     the control leg's calls (callproof.harness.run.control): CallRecord dicts
                      like calls.jsonl's, with "extra": {"leg": "control"}; placed through the
                      same engine processes to an echo of our own, never counted in an SLA line
    agents.jsonl      the record of every call our agents took (direction "inbound"), as
                      they saw it: "target" the INVITE's From as pjsua reads it, "extra"
                      {"from": the From header as received (tag left out),
                      "asserted_identity": P-Asserted-Identity or Remote-Party-ID, null
                      when none}, "hangup_by" "caller" when the far end's BYE ended it,
                      "callee" when the agent's did; agents registered to the target
                      (agents.register_to) add "agent": their user name
    probes.jsonl      availability probes beside the load, raw (the verifier decides
                      up/down), one JSON object per line:
                      {"kind": "call", "at_utc", "record": CallRecord dict}
                      ({"kind": "call", "at_utc", "record": null, "error": str}: the prober
                       could not place its call; the verifier leaves that interval undecided)
                      {"kind": "options", "at_utc", "code": int|null, "rtt_ms": float|null,
                       "reason": str}
    events.jsonl      the run's timeline, one JSON object per line: {"at_utc", "kind", ...}
                      run_start {scenario, seed, role, target}; engine {callproof.sip.engine.info's facts
                      (engine, io_queue, ...), pjproject_version, max_calls_per_process,
                      processes, provisioned_calls, media};
                      agents {processes, capacity, and with agents.register_to: registrar,
                      registrations [{user, process, code, reason, expires_s}]};
                      shape {users | rate};
                      fault {at_s, action, detail, ok, error}; breaker {answer_rate,
                      calls, window_s, at_s}; control {calls, uri, processes} or {off: why};
                      media_ports {ranges: {process: [first, last]}} (its RTP/RTCP ports);
                      health (every second) {cpu_pct (all generator processes, % of one
                      core), cpu_cores, machine_busy_pct (every program, % of all cores),
                      cpu_pressure_pct (PSI some, % of the interval; null without PSI),
                      loop_lag_ms_max, interval_s (the time the sample covers: a stalled
                      loop's sample covers the stall), pump_lag_ms_max (the worst engine's;
                      pump_lag_ms_by_engine: each one's), engine_cpu_wait_pct_max and
                      cpu_wait_pct_max (the longest a thread of an engine / of this process
                      waited for a CPU, % of the interval), socket_drops_sip,
                      socket_drops_media (drops on our own sockets so far), in_flight,
                      provisioned, attempted, capped, lost, slot_waits, slot_wait_ms_max};
                      own_sockets {socket_drops_sip, socket_drops_media, processes: {name:
                      {sip, media}}} once every engine process has stopped (the final
                      counts); hang_up {calls, reason}: the run hung up the calls still up
                      (reason "end": CALLS_END_GRACE_S after the load ended; "signal": at
                      once); harness_error {step, message}: callproof itself failed (step
                      "load": while calls were placed, which makes the run INVALID);
                      run_end {reason, interrupted}
    logs/             what the run's processes said: one log per SIP engine process
                      (caller1.log, agent2.log, probe1.log...: numbered per kind from 1,
                      agentN the registered agent N; pjsip's log and any traceback
                      of a call that failed inside the engine), dumpcap.log, the scenario's
                      processes; harness.log: the traceback of every step of the harness
                      that failed (summary.json `harness_errors` names the steps)
    engine.json       the pjsua2 engine in use: version, per-process call capacity,
                      I/O queue, media settings
    summary.json      derived from the records (callproof.harness.verdict.summary): call
                      counts, delays, the SLA lines and the verdict, RFC 6076, media,
                      availability, failover, the generator's validity. Its every key is
                      in callproof/scenarios/summary.schema.json (JSON Schema 2020-12);
                      the verifier writes and the report reads only summaries that fit it
                      (callproof.reports.summary_file). harness_errors[] {step, message}:
                      the steps of the run's end that failed (callproof.harness.run.conclude;
                      `callproof run` then exits 3)
    audio/            recorded call samples (WAV)
    pesq.jsonl        ITU-T P.862 PESQ of each recorded call against the prompt it should
                      carry: {"call_id", "recording", "reference", "pesq": PesqResult dict,
                      "disagreement": str|null}
    hearing.jsonl     what each recorded, answered call heard (callproof.harness.verdict.hearing,
                      docs/hearing.md): {"call_id", "recording", "recording_s", "dead_air_s",
                      "dead_air_from_ms", "signal_s", "audio_in", "audio_out": bool|null,
                      "one_way": bool|null, "prompts": [{"prompt", "after", "within_s", "heard",
                      "time_to_prompt_ms", "score", "reason"}]}
    captures/media.pcap  the run's media (RTP/RTCP on our engines' ports; no SIP) when the
                      scenario's capture.enabled is true; see callproof.harness.run.capture
    report.html, report.pdf, junit.xml
    manifest.json     every file's SHA-256 and size, tool/engine/host facts, times, seed
    SHA256SUMS        `sha256sum` format, signed by SHA256SUMS.sig (SSHSIG, Ed25519,
                      namespace "callproof-bundle")

No absolute local path goes into a bundle: engine.json (and the `engine` event) name
the pjsua2 module by its last two path parts ("callproof-engine/pjsua2.py") and a
built engine's source tree by its folder name; events name files relative to the run
folder ("captures/media.pcap") or to the scenario's folder, else by their name alone;
manifest.json holds no host name, user or environment.

Reading a bundle someone else made (`callproof report`, `callproof verify`;
callproof.reports.bundle_files): regular files only, no link followed, and at most

    scenario.yaml 1 MiB, summary.json 16 MiB, engine.json 1 MiB, manifest.json and
    SHA256SUMS 64 MiB, SHA256SUMS.sig 64 KiB; each JSON-lines file 4 GiB, one line of
    it 16 MiB; 100,000 entries in all, 8 folder levels. Files are hashed in 1 MiB blocks,
    whatever their size.
"""

SCENARIO = "scenario.yaml"
LOGS_DIR = "logs"
HARNESS_LOG = "harness.log"  # in LOGS_DIR
CALLS = "calls.jsonl"
CONTROL = "control.jsonl"
AGENTS = "agents.jsonl"
PROBES = "probes.jsonl"
EVENTS = "events.jsonl"
ENGINE = "engine.json"
SUMMARY = "summary.json"
AUDIO_DIR = "audio"
PESQ = "pesq.jsonl"
HEARING = "hearing.jsonl"
CAPTURES_DIR = "captures"
MEDIA_CAPTURE = "media.pcap"
REPORT_HTML = "report.html"
REPORT_PDF = "report.pdf"
JUNIT = "junit.xml"
MANIFEST = "manifest.json"
SHA256SUMS = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"
SIGNATURE_NAMESPACE = "callproof-bundle"

_MiB = 1 << 20
MAX_FILE_BYTES = {SCENARIO: _MiB, SUMMARY: 16 * _MiB, ENGINE: _MiB, MANIFEST: 64 * _MiB, SHA256SUMS: 64 * _MiB,
                  SIGNATURE: 64 << 10}
MAX_RECORDS_BYTES = 4 << 30  # each JSON-lines file
MAX_LINE_BYTES = 16 * _MiB  # one line of a JSON-lines file
MAX_ENTRIES = 100_000  # files and folders in a bundle
MAX_DEPTH = 8  # folder levels below the bundle's own (audio/ and captures/ are one)
