"""A scenario as frozen, typed settings: what `load_scenario` returns.

Standard library only (tests/test_boundaries.py): the plan, the run and the verdict
all read these, and none of them may pull the loader's YAML or JSON Schema along.
Durations are seconds, rates calls per second; None means "off" or "not set".
"""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path
from typing import Literal

EMBEDDED = "embedded"

# The closed sets of scenarios/schema.json, which the loader holds a scenario to.
Transport = Literal["udp", "tcp", "tls"]
Srtp = Literal["off", "optional", "mandatory"]
LoadMode = Literal["concurrency", "arrivals"]
LoadShape = Literal["steady", "step", "spike", "soak"]
Distribution = Literal["fixed", "uniform", "exponential", "lognormal"]
AgentMode = Literal["echo", "prompt"]


@dataclasses.dataclass(frozen=True)
class Credentials:
    username_env: str
    password_env: str
    realm: str
    username: str  # resolved from the environment when the scenario loads
    password: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class Target:
    uri: str  # EMBEDDED or a SIP URI
    transport: Transport
    outbound_proxy: str | None
    srtp: Srtp
    tls_verify_server: bool
    credentials: Credentials | None
    register: bool
    from_user: str

    @property
    def embedded(self) -> bool:
        return self.uri == EMBEDDED


@dataclasses.dataclass(frozen=True)
class Spike:
    at_s: float  # after the run starts
    length_s: float
    factor: float  # level inside the spike, times the peak


@dataclasses.dataclass(frozen=True)
class BreakerSettings:
    min_answer_rate: float  # 0 turns the breaker off
    window_s: float
    min_calls: int  # a window is judged only when this many calls ended in it


@dataclasses.dataclass(frozen=True)
class Load:
    mode: LoadMode
    peak_concurrent: int | None  # concurrency mode
    peak_cps: float | None  # arrivals mode
    multiplier: float
    shape: LoadShape
    ramp_up_s: float
    duration_s: float  # whole run, ramps included
    ramp_down_s: float
    steps: int  # stairs per ramp, step shape
    spike: Spike | None  # spike shape
    max_cps: float
    max_concurrent: int
    breaker: BreakerSettings
    processes: int | None  # SIP engine processes; None: auto
    control_fraction: float = 0.0  # share of calls also placed to our own echo (the control leg); 0: none

    @property
    def hold_s(self) -> float:
        return self.duration_s - self.ramp_up_s - self.ramp_down_s


@dataclasses.dataclass(frozen=True)
class TalkTime:
    """A distribution of durations (call talk time, agent handle time); see callproof.harness.scenario.plan."""

    distribution: Distribution
    value_s: float | None = None  # fixed
    min_s: float | None = None  # uniform
    max_s: float | None = None  # uniform; cap of exponential and lognormal
    mean_s: float | None = None  # exponential, lognormal (before the cap)
    sigma: float | None = None  # lognormal: standard deviation of ln X


def given(value: float | None) -> float:
    """A TalkTime field its distribution needs, which a loaded scenario always has."""
    assert value is not None, "scenarios/schema.json requires this field for the distribution"
    return value


@dataclasses.dataclass(frozen=True)
class DtmfStep:
    wait_s: float  # after the previous step; the first after the answer
    digits: str
    method: str  # rfc4733 | info
    timeout_s: float = 5.0  # delivery: each INFO's 2xx within it (callproof.sip.call)


@dataclasses.dataclass(frozen=True)
class Expectation:
    """A prompt the caller must hear (docs/hearing.md): its first sound within within_s of the anchor."""

    prompt: Path  # absolute; mono 16-bit WAV at 8 or 16 kHz
    within_s: float
    after: str  # as written: "answer", "dtmf 1", "dtmf step 2"
    step: int | None  # the call.dtmf step it counts from (0-based); None: the answer


@dataclasses.dataclass(frozen=True)
class Call:
    codecs: tuple[str, ...]  # priority order, from callproof.sip.settings.SUPPORTED_CODECS
    ring_timeout_s: float
    patience_s: float | None  # with agent_marker; None: no limit
    talk_time: TalkTime
    prompt: Path | None  # absolute; mono 16-bit WAV at 8 or 16 kHz
    dtmf: tuple[DtmfStep, ...]
    agent_marker: str | None
    record_fraction: float
    media_timeout_s: float
    expect: tuple[Expectation, ...] = ()  # checked on the recorded calls


@dataclasses.dataclass(frozen=True)
class Agents:
    count: int  # each holds one call at a time
    ring_delay_s: float
    handle_time: TalkTime | None  # None: the agent waits for the caller's BYE
    mode: AgentMode
    prompt: Path | None  # absolute, for mode prompt
    register_to: str | None  # registrar of the PBX under test; None: the embedded agents
    username_pattern: str  # user of agent n (1..count), e.g. "agent{n}"
    password_env: str | None
    realm: str
    password: str | None = dataclasses.field(default=None, repr=False)  # resolved from password_env
    queue_wait: TalkTime | None = None  # answer at once, send the agent marker after this; None: at once

    def username(self, n: int) -> str:
        """User (and digest user) of agent n, counted from 1."""
        return self.username_pattern.format(n=n)


@dataclasses.dataclass(frozen=True)
class MediaOverrides:
    """What the scenario changes in callproof.sip.settings.MediaSettings; None keeps the default."""

    clock_rate: int | None = None
    snd_clock_rate: int | None = None
    ptime_ms: int | None = None
    echo_canceller: bool | None = None
    vad: bool | None = None
    media_threads: int | None = None
    jb_init_ms: int | None = None
    jb_min_pre_ms: int | None = None
    jb_max_pre_ms: int | None = None
    jb_max_ms: int | None = None



@dataclasses.dataclass(frozen=True)
class Probes:
    call_interval_s: float | None  # None: no probe calls
    options_interval_s: float | None  # None: no OPTIONS
    setup_cap_ms: float
    call_talk_s: float
    consecutive_ok: int
    uri: str | None  # None: target.uri


@dataclasses.dataclass(frozen=True)
class Capture:
    enabled: bool
    seconds: float | None  # None: the whole run
    max_mb: float


@dataclasses.dataclass(frozen=True)
class Fault:
    at_s: float  # after the run starts
    action: str  # command | signal | stop
    command: tuple[str, ...] | None  # argv, run without a shell in Scenario.base_dir
    pid_file: Path | None  # absolute
    signal: signal.Signals  # for signal and stop
    process: str | None  # a ProcessSpec name


@dataclasses.dataclass(frozen=True)
class ProcessSpec:
    name: str
    command: tuple[str, ...]  # argv, run without a shell in Scenario.base_dir
    ready_port: int | None
    ready_protocol: str  # udp | tcp
    ready_timeout_s: float


@dataclasses.dataclass(frozen=True)
class ServiceLevel:
    within_s: float
    min: float


@dataclasses.dataclass(frozen=True)
class Sla:
    """Thresholds for the verifier; None switches a line off."""

    answer_rate_min: float | None
    isa_max: float | None
    first_answer_s_max: float | None
    service_level: ServiceLevel | None
    abandonment_max: float | None
    setup_delay_p95_ms_max: float | None
    mos_cqe_p5_min: float | None
    one_way_delay_p95_ms_max: float | None
    loss_p95_max: float | None
    availability_min: float | None
    rto_s_max: float | None
    prompt_heard_rate_min: float | None = None
    time_to_prompt_p95_ms_max: float | None = None
    dead_air_p95_s_max: float | None = None
    one_way_audio_max: float | None = None


@dataclasses.dataclass(frozen=True)
class Permits:
    """What the person running a scenario allows it beyond the defaults, on the command line
    (`callproof run --allow-...`): a scenario may come from the other party (docs/scenarios.md, "What a
    scenario may do")."""

    commands: bool = False  # processes and faults may run (--allow-scenario-commands)
    env_names: frozenset[str] = frozenset()  # *_env names beyond CALLPROOF_* (--allow-env)
    prompt_files: frozenset[Path] = frozenset()  # prompts outside the scenario's folder, resolved (--allow-prompt)
    pid_files: frozenset[Path] = frozenset()  # PID files a signal fault may act on, resolved (--allow-pid-file)


@dataclasses.dataclass(frozen=True)
class ScenarioOverrides:
    """Values from the command line that replace the file's (`callproof run --target/--duration`)."""

    target_uri: str | None = None
    duration_s: float | None = None


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: int
    target: Target
    load: Load
    call: Call
    agents: Agents
    media: MediaOverrides
    probes: Probes
    capture: Capture
    faults: tuple[Fault, ...]
    processes: tuple[ProcessSpec, ...]
    sla: Sla
    path: Path  # the file it was read from
    source_text: str  # the file exactly as read
    run_text: str  # the file with the overrides written in: the run folder's scenario.yaml
    overrides: ScenarioOverrides
    notes: tuple[str, ...] = ()  # what the overrides changed beyond their own values, for the user

    @property
    def base_dir(self) -> Path:
        """Folder relative paths and commands are taken from."""
        return self.path.parent
