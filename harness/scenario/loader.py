"""Scenario files: load, validate and turn into frozen, typed settings.

    load_scenario("scenarios/smoke.yaml")        a path
    load_scenario("smoke")                       a bundled scenario (callproof.scenarios)
    load_scenario(path, overrides=ScenarioOverrides(target_uri=..., duration_s=...))
    load_scenario(run_folder / "scenario.yaml", offline=True)   thresholds of a past run, anywhere

`--target URI` on a scenario written for the embedded target (smoke) drops its
`agents` section: embedded agents answer only `target.uri: embedded`, and agents
for a PBX need `agents.register_to`. The drop is said in `Scenario.notes` and in
the run folder's scenario.yaml, where the section is kept as a comment. Whatever
the overrides, the file as run (`run_text`) is read back here exactly as the
verifier will read it at the end (offline), before any call is placed.

Validation has two layers, and both report one sentence with file, line and key
(`callproof.harness.errors.BadInput`, exit code 2):
1. scenarios/schema.json (JSON Schema 2020-12, the same file editors use):
   unknown keys, types, ranges, enumerations, per-mode and per-shape keys;
2. rules across keys, checked here: ramps inside the run, the plan's peak within
   the caps, prompt files that exist and are WAV, credentials present in the
   environment, faults inside the run and naming known processes.

Absent keys take the schema's `default`, so the defaults are written once, in
the schema, where editors show them.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import itertools
import json
import math
import os
import re
import shlex
import signal
import typing
import wave
from pathlib import Path
from typing import Any, TypeVar

from callproof.harness.errors import BadInput, HarnessError
from callproof.harness.scenario import plan, schema_check
from callproof.harness.scenario.model import (
    EMBEDDED,
    Agents,
    BreakerSettings,
    Call,
    Capture,
    Credentials,
    DtmfStep,
    Expectation,
    Fault,
    Load,
    MediaOverrides,
    Permits,
    Probes,
    ProcessSpec,
    Scenario,
    ScenarioOverrides,
    ServiceLevel,
    Sla,
    Spike,
    TalkTime,
    Target,
)
from callproof.harness.scenario.yaml_source import KeyPath, YamlDocument, dotted, read_text, read_yaml
from callproof.sip.errors import SipConfigError
from callproof.sip.settings import MediaSettings
from callproof.sip.uri import EXAMPLE as SIP_URI_EXAMPLE
from callproof.sip.uri import SipUri, SipUriError

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_UriOrNone = TypeVar("_UriOrNone", str, None)  # an optional URI stays optional, a given one given
# The environment variables a scenario's *_env keys may name without --allow-env: CALLPROOF_ and capitals, digits
# or underscores, but not callproof's own settings (the master's shared secret would go to the target in clear).
CREDENTIAL_ENV = re.compile(r"CALLPROOF_[A-Z0-9_]+")
CALLPROOF_SETTINGS = frozenset({"CALLPROOF_ENGINE", "CALLPROOF_MASTER_SECRET"})
_PROMPT_RATES = (8000, 16000)


def load_scenario(source: str | Path, *, overrides: ScenarioOverrides | None = None,
                  offline: bool = False, text: str | None = None, label: str | None = None,
                  permits: Permits | None = None) -> Scenario:
    """Read, validate and type a scenario file, or a bundled scenario given by name.

    offline=True reads a scenario as a run folder recorded it, on any machine (the
    verifier reading thresholds for `callproof report`): credentials are not read from
    the environment (username and password are left empty) and prompt files are not
    opened. Such a Scenario is for reading, not for running.

    text: the file's content, when the caller read it already (a bundle's scenario.yaml,
    read through callproof.reports.bundle_files); `source` is then its path, and `label`
    how messages name it.

    permits: what the command line allows beyond the defaults: *_env names other than
    CALLPROOF_*, prompt files outside the scenario's folder (whether its processes and
    faults may run is the run's to check: callproof.harness.run.scenario_commands).
    """
    if text is None:
        path, label = _locate(source)
        text = read_text(path, label)
    else:
        path, label = Path(source), label or str(source)
    doc = read_yaml(text, label)
    if not isinstance(doc.data, dict):
        raise doc.error((), "a scenario must be a mapping of keys (name, description, target, load, call, ...)")
    schema = scenario_schema()
    schema_check.check(doc, schema)
    data = schema_check.fill_defaults(doc.data, schema)
    scenario = _Builder(doc, data, path, overrides or ScenarioOverrides(), offline=offline,
                        permits=permits or Permits()).scenario()
    if not offline:
        _check_reads_back(scenario, label)
    return scenario


def _check_reads_back(scenario: Scenario, label: str) -> None:
    """The file as run must give the verifier (reading it offline at the end, from the run folder)
    the thresholds this run is judged by."""
    again = load_scenario(scenario.path, offline=True, text=scenario.run_text, label=f"{label} (as run)")
    if _judged_by(again) != _judged_by(scenario):
        raise HarnessError(f"{label}: the scenario as run would be judged by other settings than the ones it runs "
                           "with (a callproof bug: please report it with this file)")


def media_settings(scenario: Scenario) -> MediaSettings:
    """The SIP engine's media settings for this scenario: load defaults for its codecs, its overrides."""
    return _media_settings(scenario.media, scenario.call.codecs)


def _media_settings(media: MediaOverrides, codecs: tuple[str, ...]) -> MediaSettings:
    chosen = {k: v for k, v in dataclasses.asdict(media).items() if v is not None}
    return MediaSettings.for_codecs(codecs, **chosen)


def bundled_dir() -> Path:
    """Folder of the scenarios shipped with callproof (package callproof.scenarios)."""
    return Path(str(importlib.resources.files("callproof.scenarios")))


def schema_path() -> Path:
    return bundled_dir() / "schema.json"


@functools.cache
def scenario_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def list_bundled() -> list[tuple[str, str]]:
    """(name, description) of every bundled scenario, by name."""
    out = []
    for path in sorted(bundled_dir().glob("*.yaml")):
        data = read_yaml(path.read_text(encoding="utf-8"), str(path)).data
        description = data.get("description", "") if isinstance(data, dict) else ""
        out.append((path.stem, str(description)))
    return out


def sip_uri_problem(uri: str, credentials_key: str = "target.credentials", *,
                    or_embedded: bool = False) -> str | None:
    """Why `uri` is not a SIP URI a scenario may name, as the end of a sentence, or None.

    The grammar is callproof.sip.uri's; a scenario adds one rule: no password in the URI,
    since the file is shared. `credentials_key` is where the password belongs instead.
    """
    try:
        parsed = SipUri.parse(uri)
    except SipUriError as exc:
        if exc.got is not None and or_embedded:
            return f"must be {EMBEDDED} or a SIP URI such as {SIP_URI_EXAMPLE} (got {exc.got})"
        return exc.problem
    if parsed.password is not None:
        return f"must not carry a password (user:password@, RFC 3261 19.1.1); use {credentials_key}"
    return None


def _locate(source: str | Path) -> tuple[Path, str]:
    """The file to read and how messages name it."""
    path = Path(source)
    if path.exists():  # read_text refuses a folder, a FIFO or a device in one sentence
        return path, str(source)
    if isinstance(source, str) and _NAME.fullmatch(source):
        bundled = bundled_dir() / f"{source}.yaml"
        if bundled.is_file():
            return bundled, str(bundled)
    names = ", ".join(name for name, _ in list_bundled())
    raise BadInput(f"{source}: no such scenario file, and no bundled scenario of that name (bundled: {names})")


class _Builder:
    """Turns validated, defaulted data into the frozen model, checking rules across keys."""

    def __init__(self, doc: YamlDocument, data: dict[str, Any], path: Path, overrides: ScenarioOverrides, *,
                 offline: bool = False, permits: Permits | None = None) -> None:
        self.doc = doc
        self.offline = offline
        self.permits = permits or Permits()
        self.data = data
        self.path = path
        self.base_dir = path.parent
        self.overrides = overrides
        self.overridden: dict[KeyPath, str] = {}
        self.notes: list[str] = []
        self.dropped: list[str] = []  # top-level sections an override made void
        self._apply_overrides()

    def scenario(self) -> Scenario:
        d = self.data
        target = self._target(d["target"])
        load = self._load(d["load"])
        call = self._call(d["call"])
        self._check_caps(load, call)
        processes = self._processes(d["processes"])
        return Scenario(
            name=d["name"],
            description=d["description"],
            seed=d["seed"],
            target=target,
            load=load,
            call=call,
            agents=self._agents(d["agents"], target, call),
            media=self._media(d["media"], call.codecs),
            probes=self._probes(d["probes"]),
            capture=_typed(Capture, enabled=d["capture"]["enabled"], seconds=d["capture"]["seconds"],
                           max_mb=d["capture"]["max_mb"]),
            faults=self._faults(d["faults"], load, processes),
            processes=processes,
            sla=self._sla(d["sla"]),
            path=self.path,
            source_text=self.doc.text,
            run_text=self._run_text(),
            overrides=self.overrides,
            notes=tuple(self.notes),
        )

    # --- helpers -----------------------------------------------------------------

    def fail(self, path: KeyPath, sentence: str) -> BadInput:
        return self.doc.error(path, sentence)

    def name(self, path: KeyPath) -> str:
        """How a message names a key: its dotted path, or the command-line option that set it."""
        return self.overridden.get(path, dotted(path))

    def _apply_overrides(self) -> None:
        uri, duration = self.overrides.target_uri, self.overrides.duration_s
        if uri is not None:
            problem = None if uri == EMBEDDED else sip_uri_problem(uri, or_embedded=True)
            if problem:
                raise BadInput(f"--target {problem}")
            self.data["target"] = {**self.data["target"], "uri": uri}
            self.overridden[("target", "uri")] = "--target"
            self._drop_embedded_agents(uri)
        if duration is not None:
            longest = scenario_schema()["$defs"]["positive_seconds"]["maximum"]
            if not (math.isfinite(duration) and 0 < duration <= longest):
                raise BadInput(f"--duration must be a number of seconds greater than 0 and at most {longest:,} "
                               f"(got {duration:g})")
            self.data["load"] = {**self.data["load"], "duration_s": duration}
            self.overridden[("load", "duration_s")] = "--duration"

    def _drop_embedded_agents(self, uri: str) -> None:
        """--target away from a file written for the embedded target: its agents have nobody to answer."""
        written = self.doc.data.get("target", {}).get("uri") if isinstance(self.doc.data.get("target"), dict) else None
        agents = self.doc.data.get("agents")
        if uri == EMBEDDED or written != EMBEDDED or agents is None:
            return
        if isinstance(agents, dict) and agents.get("register_to") is not None:
            return  # agents registered to a PBX: the --target override keeps them (and _agents judges them)
        self.data["agents"] = schema_check.fill_defaults({"agents": {}}, scenario_schema())["agents"]
        self.dropped.append("agents")
        self.notes.append(f"--target {uri}: the scenario's agents section was dropped; its agents answer only "
                          f"target.uri {EMBEDDED}, and the calls now go to {uri}")

    def _run_text(self) -> str:
        """The source with each overridden value written in place, comments kept; dropped sections
        turned into comments."""
        replacements = []
        if self.overrides.target_uri is not None:
            replacements.append((("target", "uri"), json.dumps(self.overrides.target_uri)))
        if self.overrides.duration_s is not None:
            replacements.append((("load", "duration_s"), _yaml_number(self.overrides.duration_s)))
        text = self.doc.text
        for path, value in sorted(replacements, key=lambda r: -self.doc.spans[r[0]].start):
            span = self.doc.spans[path]
            text = text[: span.start] + value + text[span.end :]
        for section in self.dropped:
            text = _comment_out_section(text, self.doc.spans[(section,)].line,
                                        f"# {section}: dropped by --target (it applies only to target.uri {EMBEDDED})")
        if replacements:
            flags = " ".join(f"{self.overridden[p]} {value}" for p, value in replacements)
            text = f"# as run with: {flags}\n{text}"
        return text

    def _sip_uri(self, path: KeyPath, uri: _UriOrNone, credentials_key: str = "target.credentials") -> _UriOrNone:
        if uri is not None and path not in self.overridden:
            problem = sip_uri_problem(uri, credentials_key)
            if problem:
                raise self.fail(path, f"{self.name(path)} {problem}")
        return uri

    def _file(self, path: KeyPath, value: str | None) -> Path | None:
        if value is None:
            return None
        return (self.base_dir / value).resolve()

    def _prompt(self, path: KeyPath, value: str | None) -> Path | None:
        """A prompt WAV inside the scenario's folder (or named on the command line) that exists and that the
        media bridge plays as is."""
        file = self._file(path, value)
        if file is None or self.offline:
            return file
        # Resolved: a link inside the folder to a file outside it is outside. A prompt goes to the target as
        # audio, so a scenario must not pick any file of the machine's to send.
        if not file.is_relative_to(self.base_dir.resolve()) and file not in self.permits.prompt_files:
            raise self.fail(path, f"{dotted(path)} names {value}, which is outside the scenario's folder; "
                                  f"callproof plays such a file only when you name it with --allow-prompt {file}")
        if not file.is_file():
            raise self.fail(path, f"{dotted(path)} names {value}, which does not exist ({file})")
        try:
            with wave.open(str(file), "rb") as wav:
                channels, width, rate, frames = (
                    wav.getnchannels(),
                    wav.getsampwidth(),
                    wav.getframerate(),
                    wav.getnframes(),
                )
        except (wave.Error, EOFError) as exc:
            raise self.fail(path, f"{dotted(path)} names {value}, which is not a WAV file ({exc})") from None
        if channels != 1 or width != 2 or rate not in _PROMPT_RATES or frames == 0:
            raise self.fail(
                path,
                f"{dotted(path)} names {value}, which is {channels}-channel {8 * width}-bit {rate} Hz "
                f"with {frames} frames; prompts must be mono 16-bit at 8000 or 16000 Hz",
            )
        return file

    def _argv(self, path: KeyPath, command: str) -> tuple[str, ...]:
        try:
            argv = tuple(shlex.split(command))
        except ValueError as exc:
            raise self.fail(path, f"{dotted(path)} cannot be split into words ({exc})") from None
        if not argv or not argv[0]:
            raise self.fail(path, f"{dotted(path)} names no program")
        return argv

    def _env(self, path: KeyPath, variable: str) -> str:
        if self.offline:
            return ""
        if variable not in self.permits.env_names:
            if variable in CALLPROOF_SETTINGS:
                raise self.fail(path, f"{dotted(path)} names {variable}, callproof's own setting, not a credential")
            if CREDENTIAL_ENV.fullmatch(variable) is None:
                raise self.fail(path, f"{dotted(path)} names the environment variable {variable}, which a scenario "
                                      f"may not read: name a CALLPROOF_ variable, or allow this one with "
                                      f"--allow-env {variable}")
        value = os.environ.get(variable)
        if not value:
            state = "is empty" if value == "" else "is not set"
            raise self.fail(path, f"{dotted(path)} names the environment variable {variable}, which {state}")
        return value

    # --- sections ----------------------------------------------------------------

    def _target(self, t: dict[str, Any]) -> Target:
        p = ("target",)
        uri = t["uri"] if t["uri"] == EMBEDDED else self._sip_uri(p + ("uri",), t["uri"])
        if uri.startswith("sips:") and t["transport"] != "tls":
            raise self.fail(
                p + ("transport",),
                f"{self.name(p + ('uri',))} is a sips: URI, which needs target.transport tls (got {t['transport']})",
            )
        credentials = None
        if t["credentials"] is not None:
            c, cp = t["credentials"], p + ("credentials",)
            credentials = Credentials(
                username_env=c["username_env"],
                password_env=c["password_env"],
                realm=c["realm"],
                username=self._env(cp + ("username_env",), c["username_env"]),
                password=self._env(cp + ("password_env",), c["password_env"]),
            )
        return Target(
            uri=uri,
            transport=t["transport"],
            outbound_proxy=self._sip_uri(p + ("outbound_proxy",), t["outbound_proxy"]),
            srtp=t["srtp"],
            tls_verify_server=t["tls_verify_server"],
            credentials=credentials,
            register=t["register"],
            from_user=t["from_user"],
        )

    def _load(self, x: dict[str, Any]) -> Load:
        p = ("load",)
        duration = p + ("duration_s",)
        ramps = x["ramp_up_s"] + x["ramp_down_s"]
        if ramps > x["duration_s"]:
            raise self.fail(
                duration,
                f"{self.name(duration)} ({x['duration_s']:g} s) is shorter than "
                f"load.ramp_up_s + load.ramp_down_s ({ramps:g} s)",
            )
        spike = None
        if x["spike"] is not None:
            s = x["spike"]
            spike = _typed(Spike, at_s=s["at_s"], length_s=s["length_s"], factor=s["factor"])
            if spike.at_s + spike.length_s > x["duration_s"]:
                raise self.fail(
                    p + ("spike",),
                    f"load.spike ends {spike.at_s + spike.length_s:g} s into the run, after its end at "
                    f"{x['duration_s']:g} s ({self.name(duration)})",
                )
        b = x["breaker"]
        return _typed(
            Load,
            mode=x["mode"],
            peak_concurrent=x["peak_concurrent"],
            peak_cps=x["peak_cps"],
            multiplier=x["multiplier"],
            shape=x["shape"],
            ramp_up_s=x["ramp_up_s"],
            duration_s=x["duration_s"],
            ramp_down_s=x["ramp_down_s"],
            steps=x["steps"],
            spike=spike,
            max_cps=x["max_cps"],
            max_concurrent=x["max_concurrent"],
            breaker=_typed(
                BreakerSettings, min_answer_rate=b["min_answer_rate"], window_s=b["window_s"], min_calls=b["min_calls"]
            ),
            processes=None if x["processes"] == "auto" else x["processes"],
            control_fraction=x["control_fraction"],
        )

    def _check_caps(self, load: Load, call: Call) -> None:
        """Reject a plan its own caps would cut: the run would not be what the file says."""
        p = ("load",)
        spike = f" x spike.factor {load.spike.factor:g}" if load.shape == "spike" and load.spike else ""
        if load.mode == "concurrency":
            peak = plan.planned_peak_concurrency(load)
            how = f"peak_concurrent {load.peak_concurrent} x multiplier {load.multiplier:g}{spike}"
            if peak < 1:
                raise self.fail(
                    p + ("multiplier",),
                    f"load.multiplier {load.multiplier:g} leaves no call in progress at the peak ({how})",
                )
            if peak > load.max_concurrent:
                raise self.fail(
                    p + ("max_concurrent",),
                    f"load.max_concurrent ({load.max_concurrent}) is below the plan's peak of {peak} "
                    f"calls in progress ({how})",
                )
            return
        rate = plan.planned_peak_rate(load)
        how = f"peak_cps {load.peak_cps:g} x multiplier {load.multiplier:g}{spike}"
        if rate > load.max_cps:
            raise self.fail(
                p + ("max_cps",),
                f"load.max_cps ({load.max_cps:g}) is below the plan's peak of {rate:g} calls/s ({how})",
            )
        # The arrival times are drawn at the start, as many candidates as peak rate x duration (plan.arrival_times).
        candidates = rate * load.duration_s
        if candidates > plan.MAX_ARRIVALS:
            duration = p + ("duration_s",)
            raise self.fail(
                duration,
                f"{self.name(duration)} ({load.duration_s:g} s) at the plan's peak of {rate:g} calls/s draws "
                f"{candidates:,.0f} arrival times; a run draws at most {plan.MAX_ARRIVALS:,}",
            )
        # Little's law: calls in progress = arrival rate x mean holding time, and a call
        # holds at least its talk time, so this is a lower bound of what the plan needs.
        talk_s = plan.expected_duration_s(call.talk_time)
        busy = rate * talk_s
        if busy > load.max_concurrent:
            raise self.fail(
                p + ("max_concurrent",),
                f"load.max_concurrent ({load.max_concurrent}) is below the {busy:.0f} calls in progress that "
                f"{rate:g} calls/s with a mean talk time of {talk_s:.3g} s keep up (Little's law)",
            )

    def _distribution(self, path: KeyPath, d: dict[str, Any] | None) -> TalkTime | None:
        if d is None:
            return None
        dist = _typed(TalkTime, **d)
        if dist.distribution == "uniform" and dist.min_s > dist.max_s:
            raise self.fail(
                path + ("max_s",), f"{dotted(path + ('max_s',))} ({dist.max_s:g}) is below min_s ({dist.min_s:g})"
            )
        if dist.distribution in ("exponential", "lognormal") and dist.mean_s > dist.max_s:
            raise self.fail(
                path + ("max_s",), f"{dotted(path + ('max_s',))} ({dist.max_s:g}) is below mean_s ({dist.mean_s:g})"
            )
        return dist

    def _call(self, c: dict[str, Any]) -> Call:
        p = ("call",)
        return _typed(
            Call,
            codecs=tuple(c["codecs"]),
            ring_timeout_s=c["ring_timeout_s"],
            patience_s=c["patience_s"],
            talk_time=self._distribution(p + ("talk_time",), c["talk_time"]),
            prompt=self._prompt(p + ("prompt",), c["prompt"]),
            dtmf=tuple(_typed(DtmfStep, wait_s=s["wait_s"], digits=s["digits"], method=s["method"],
                             timeout_s=s["timeout_s"]) for s in c["dtmf"]),
            agent_marker=c["agent_marker"],
            record_fraction=c["record_fraction"],
            media_timeout_s=c["media_timeout_s"],
            expect=self._expectations(c),
        )

    def _expectations(self, c: dict[str, Any]) -> tuple[Expectation, ...]:
        """call.expect: each prompt a WAV like call.prompt, each `after` naming one call.dtmf step."""
        items = c.get("expect") or []
        if items and c["record_fraction"] == 0:
            raise self.fail(("call", "expect"), "call.expect is checked on recorded calls: set call.record_fraction "
                                                "above 0 (the share of calls recorded and analysed)")
        steps = c["dtmf"]
        out = []
        for number, item in enumerate(items):
            p = ("call", "expect", number)
            after, step = item["after"], None
            if after.startswith("dtmf step "):
                step = int(after.removeprefix("dtmf step ")) - 1
                if step >= len(steps):
                    raise self.fail(p + ("after",), f"{dotted(p + ('after',))} is {after}, but call.dtmf has "
                                                    f"{len(steps)} step{'' if len(steps) == 1 else 's'}")
            elif after.startswith("dtmf "):
                digits = after.removeprefix("dtmf ")
                matching = [n for n, s in enumerate(steps) if s["digits"] == digits]
                if len(matching) != 1:
                    which = ("no call.dtmf step sends" if not matching else
                             f"call.dtmf steps {', '.join(str(n + 1) for n in matching)} all send")
                    raise self.fail(p + ("after",), f"{dotted(p + ('after',))} is {after}, but {which} {digits}; "
                                                    "name one step: after: dtmf step N")
                step = matching[0]
            prompt = self._prompt(p + ("prompt",), item["prompt"])
            if prompt is not None and not self.offline:
                from callproof.rtp_analysis.audio import read_wav
                from callproof.rtp_analysis.hearing import HearingError, prepare_reference

                try:
                    prepare_reference(*read_wav(prompt))
                except HearingError as exc:
                    raise self.fail(p + ("prompt",), f"{dotted(p + ('prompt',))} names {item['prompt']}, "
                                                     f"which cannot be matched: {exc}") from None
            out.append(_typed(Expectation, prompt=prompt, within_s=item["within_s"], after=after, step=step))
        return tuple(out)

    def _agents(self, a: dict[str, Any], target: Target, call: Call) -> Agents:
        p = ("agents",)
        written_target = self.doc.data["target"]["uri"]
        register_to = self._sip_uri(p + ("register_to",), a["register_to"], "agents.password_env")
        written = "agents" in self.doc.data and "agents" not in self.dropped
        if register_to is None and written and written_target != EMBEDDED:
            raise self.fail(
                p,
                f"agents applies only when target.uri is {EMBEDDED} or agents.register_to names the PBX's registrar "
                f"(target.uri is {written_target}); set agents.register_to or remove agents",
            )
        if register_to is not None and target.embedded:
            raise self.fail(
                p + ("register_to",),
                f"agents.register_to does not apply when {self.name(('target', 'uri'))} is {EMBEDDED} (remove it)",
            )
        password_env = a.get("password_env")
        if a.get("queue_wait") is not None and call.agent_marker is None:
            raise self.fail(p + ("queue_wait",), "agents.queue_wait delays the agent marker: set call.agent_marker "
                                                 "(the DTMF the agents send on pickup) or remove agents.queue_wait")
        return _typed(
            Agents,
            count=a["count"],
            ring_delay_s=a["ring_delay_s"],
            handle_time=self._distribution(p + ("handle_time",), a["handle_time"]),
            mode=a["mode"],
            prompt=self._prompt(p + ("prompt",), a["prompt"]),
            register_to=register_to,
            username_pattern=a["username_pattern"],
            password_env=password_env,
            realm=a["realm"],
            password=self._env(p + ("password_env",), password_env) if password_env else None,
            queue_wait=self._distribution(p + ("queue_wait",), a["queue_wait"]),
        )

    def _media(self, m: dict[str, Any], codecs: tuple[str, ...]) -> MediaOverrides:
        p = ("media",)
        jb = m.get("jitter_buffer", {})
        overrides = MediaOverrides(
            **{k: v for k, v in m.items() if k != "jitter_buffer"},
            **{f"jb_{k}": v for k, v in jb.items()},
        )
        # pjmedia wants min prefetch <= max prefetch <= max size (-1: its own choice).
        order = [(k, jb[k]) for k in ("min_pre_ms", "max_pre_ms", "max_ms") if jb.get(k, -1) >= 0]
        for (low_key, low), (high_key, high) in itertools.pairwise(order):
            if low > high:
                path = p + ("jitter_buffer", high_key)
                raise self.fail(path, f"{dotted(path)} ({high}) is below media.jitter_buffer.{low_key} ({low})")
        try:
            _media_settings(overrides, codecs)
        except SipConfigError as exc:
            raise self.fail(p, f"media: {exc}") from None
        return overrides

    def _probes(self, x: dict[str, Any]) -> Probes:
        return _typed(
            Probes,
            call_interval_s=x["call_interval_s"],
            options_interval_s=x["options_interval_s"],
            setup_cap_ms=x["setup_cap_ms"],
            call_talk_s=x["call_talk_s"],
            consecutive_ok=x["consecutive_ok"],
            uri=self._sip_uri(("probes", "uri"), x["uri"]),
        )

    def _processes(self, items: list[dict[str, Any]]) -> tuple[ProcessSpec, ...]:
        out: list[ProcessSpec] = []
        for i, x in enumerate(items):
            p = ("processes", i)
            earlier = [j for j, spec in enumerate(out) if spec.name == x["name"]]
            if earlier:
                raise self.fail(
                    p + ("name",), f"{dotted(p + ('name',))} {x['name']} is already the name of processes[{earlier[0]}]"
                )
            out.append(
                _typed(
                    ProcessSpec,
                    name=x["name"],
                    command=self._argv(p + ("command",), x["command"]),
                    ready_port=x["ready_port"],
                    ready_protocol=x["ready_protocol"],
                    ready_timeout_s=x["ready_timeout_s"],
                )
            )
        return tuple(out)

    def _faults(self, items: list[dict[str, Any]], load: Load, processes: tuple[ProcessSpec, ...]) -> tuple[Fault, ...]:
        names = [spec.name for spec in processes]
        out = []
        for i, x in enumerate(items):
            p = ("faults", i)
            if x["at_s"] >= load.duration_s:
                raise self.fail(
                    p + ("at_s",),
                    f"{dotted(p + ('at_s',))} ({x['at_s']:g}) is not before the run ends at {load.duration_s:g} s "
                    f"({self.name(('load', 'duration_s'))})",
                )
            if x.get("process") is not None and x["process"] not in names:
                known = ", ".join(names) or "none"
                raise self.fail(
                    p + ("process",),
                    f"{dotted(p + ('process',))} names {x['process']}, which is not in processes (known: {known})",
                )
            out.append(
                _typed(
                    Fault,
                    at_s=x["at_s"],
                    action=x["action"],
                    command=self._argv(p + ("command",), x["command"]) if x.get("command") else None,
                    pid_file=self._file(p + ("pid_file",), x.get("pid_file")),
                    signal=signal.Signals[x.get("signal", "SIGTERM")],
                    process=x.get("process"),
                )
            )
        return tuple(out)

    def _sla(self, s: dict[str, Any]) -> Sla:
        level = s["service_level"]
        return _typed(
            Sla,
            **{k: v for k, v in s.items() if k != "service_level"},
            service_level=None if level is None else _typed(ServiceLevel, within_s=level["within_s"], min=level["min"]),
        )


def _judged_by(scenario: Scenario) -> tuple:
    """What the verifier takes from a scenario (callproof.harness.verdict.summary.verdict_keys)."""
    return (scenario.sla, scenario.probes, scenario.call.agent_marker, len(scenario.faults), scenario.target.uri)


def _comment_out_section(text: str, line: int, header: str) -> str:
    """Turn the top-level section whose key is on `line` (1-based) into comments, under `header`.

    The section runs to the next line that starts a top-level key (line replacements
    made before keep their line count: they replace values within one line).
    """
    lines = text.split("\n")
    first = line - 1
    last = first + 1
    while last < len(lines) and (not lines[last].strip() or lines[last][0] in " \t#"):
        last += 1
    while last - 1 > first and not lines[last - 1].strip():
        last -= 1  # leave the blank lines between sections alone
    section = [f"# {text_line}" if text_line else "#" for text_line in lines[first:last]]
    return "\n".join([*lines[:first], header, *section, *lines[last:]])


def _typed(cls: type, **values: Any) -> Any:
    """`cls(**values)`, with YAML's whole numbers made float in float fields
    (`duration_s: 50` reads as int), so a float field always holds a float."""
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        accepted = typing.get_args(hints[name]) or (hints[name],)
        if type(value) is int and float in accepted and int not in accepted:
            values[name] = float(value)
    return cls(**values)


def _yaml_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
