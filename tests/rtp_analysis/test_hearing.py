"""What the caller heard, offline: espeak-ng prompts (Chinese and English) through G.711, gain changes,
seeded 5% frame loss and jitter-buffer slips, placed at known instants in a recording; the detector
must find each prompt where it was put and no other. The counts printed by
test_false_accept_and_false_reject_rates are the ones docs/hearing.md quotes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from callproof.rtp_analysis import hearing as h
from tests.rtp_analysis.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from tests.speech import PROMPTS, speech_samples

RATE = 8000
FRAME = 160
DELAYS_S = (0.3, 1.234, 2.5)  # one per trial, in turn


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prompts")
    return {name: speech_samples(folder, name) for name in PROMPTS}


def channel(x: np.ndarray, rng: np.random.Generator, *, codec: str = "PCMU", gain_db: float = 0.0,
            loss: float = 0.0, slips: int = 0) -> np.ndarray:
    """What a caller would record: gain, G.711, lost 20 ms frames concealed by repeating the last one
    (pjmedia's PLC is smarter), and `slips` 20 ms of silence inserted (a jitter buffer growing)."""
    y = np.clip(x * 10 ** (gain_db / 20), -32768, 32767).astype(np.int16)
    y = (ulaw_decode(ulaw_encode(y)) if codec == "PCMU" else alaw_decode(alaw_encode(y))).astype(float)
    frames = [y[i:i + FRAME] for i in range(0, y.size - FRAME + 1, FRAME)]
    for i in range(1, len(frames)):
        if rng.random() < loss:
            frames[i] = frames[i - 1]
    y = np.concatenate(frames)
    for _ in range(slips):
        at = int(rng.integers(RATE // 2, y.size - RATE // 2))
        y = np.concatenate([y[:at], np.zeros(FRAME), y[at:]])
    return y


def recording(prompt: np.ndarray, delay_s: float, before: np.ndarray | None, rng, **impairment) -> np.ndarray:
    """`before` (another prompt, or nothing) from the start, then silence, `prompt` at delay_s, 1 s of noise."""
    heard = channel(prompt, rng, **impairment)
    out = rng.normal(0.0, 2.0, int(delay_s * RATE) + heard.size + RATE)  # a quiet line, -84 dBFS
    start = int(delay_s * RATE)
    out[start:start + heard.size] += heard
    if before is not None:
        lead = channel(before, rng, **impairment)[:start]
        out[:lead.size] += lead
    return out


CONDITIONS = {
    "PCMA -20 dB": {"codec": "PCMA", "gain_db": -20.0},
    "PCMU +6 dB, 5% loss": {"gain_db": 6.0, "loss": 0.05},
    "PCMU -10 dB, 5% loss, 2 slips": {"loss": 0.05, "slips": 2, "gain_db": -10.0},
}


@pytest.fixture(scope="module")
def trial_results(prompts):
    return list(trials(prompts))  # two tests read them; each trial costs a correlation


def trials(prompts):
    """(condition, expected prompt, prompt really played, delay, match): for each condition and prompt played
    (after the tail of another, as a menu follows a greeting), one genuine trial and four impostors (the
    prompts neither played nor partly heard before it); seeded."""
    rng = np.random.default_rng(20261207)
    names = list(prompts)
    prepared = {name: h.prepare_reference(prompts[name], RATE) for name in names}
    delays = itertools.cycle(DELAYS_S)
    for (label, impairment), played in itertools.product(CONDITIONS.items(), names):
        delay = next(delays)
        other = names[(names.index(played) + 1) % len(names)]
        rec = h.band_limited(recording(prompts[played], delay, prompts[other], rng, **impairment), RATE)
        for expected in names:
            if expected != other:
                match = h.match_prepared(rec, prepared[expected], from_s=0.0, to_s=delay + 0.5)
                yield label, expected, played, delay, match


def test_false_accept_and_false_reject_rates(trial_results, capsys):
    genuine, impostor = [], []
    for label, expected, played, delay, match in trial_results:
        (genuine if expected == played else impostor).append((label, expected, played, delay, match))
    false_reject = [t for t in genuine if not t[4].heard]
    false_accept = [t for t in impostor if t[4].heard]
    lowest = min(t[4].score for t in genuine)
    highest = max(t[4].score for t in impostor)
    with capsys.disabled():
        print(f"\nhearing: {len(false_reject)} false rejects of {len(genuine)} genuine trials (lowest score "
              f"{lowest:.3f}); {len(false_accept)} false accepts of {len(impostor)} impostor trials (highest score "
              f"{highest:.3f}); threshold {h.MATCH_THRESHOLD}")
    assert false_reject == [] and false_accept == []
    # The margins the threshold sits between, so a small change of the audio does not flip a trial.
    assert lowest >= h.MATCH_THRESHOLD + 0.1
    assert highest <= h.MATCH_THRESHOLD - 0.2


def test_time_to_prompt_is_where_the_prompt_was_put(prompts, trial_results):
    """The start found is the prompt's first sound: its WAV's leading silence is not part of it."""
    errors_ms = []
    for label, expected, played, delay, match in trial_results:
        if expected != played or CONDITIONS[label].get("slips"):
            continue
        first, _ = h.audible_span(prompts[played])
        errors_ms.append(1000 * (match.start_s - delay - first / RATE))
    assert max(abs(e) for e in errors_ms) <= 1.0  # a sample or two of G.711 and loss: exact to 1 ms


def test_a_looping_prompt_is_found_at_its_first_play(prompts):
    menu = prompts["menu_zh"]
    rng = np.random.default_rng(3)
    rec = np.concatenate([np.zeros(4000), menu, np.zeros(8000), menu, rng.normal(0, 2, 8000)])
    match = h.match_prompt(rec, RATE, menu, RATE, from_s=0.0, to_s=10.0)
    first, _ = h.audible_span(menu)
    assert match.heard and abs(match.start_s - (4000 + first) / RATE) < 0.001


def test_a_prompt_cut_short_is_not_heard(prompts):
    """Half a prompt (the call ended, or the system cut it) scores about half: not heard."""
    hold = prompts["hold_zh"]
    first, last = h.audible_span(hold)
    rec = np.concatenate([np.zeros(8000), hold[: first + (last - first) // 2], np.zeros(hold.size)])
    match = h.match_prompt(rec, RATE, hold, RATE, from_s=0.0, to_s=3.0)
    assert not match.heard and 0.3 < match.score < h.MATCH_THRESHOLD


def test_a_prompt_outside_its_window_is_not_heard(prompts):
    rng = np.random.default_rng(4)
    rec = recording(prompts["hold_en"], 3.0, None, rng)
    assert not h.match_prompt(rec, RATE, prompts["hold_en"], RATE, from_s=0.0, to_s=2.0).heard
    assert h.match_prompt(rec, RATE, prompts["hold_en"], RATE, from_s=0.0, to_s=4.0).heard
    # Nothing after the window's start either: a prompt that began before it does not count.
    assert not h.match_prompt(rec, RATE, prompts["hold_en"], RATE, from_s=3.5, to_s=9.0).heard


def test_a_16_khz_recording_matches_an_8_khz_prompt(prompts):
    from callproof.rtp_analysis.audio import resample

    rec = resample(recording(prompts["balance_en"], 1.0, None, np.random.default_rng(5)), RATE, 16000)
    match = h.match_prompt(rec, 16000, prompts["balance_en"], RATE, from_s=0.0, to_s=2.0)
    first, _ = h.audible_span(prompts["balance_en"])
    assert match.heard and abs(match.start_s - 1.0 - first / RATE) < 0.002


def test_a_silent_or_short_reference_is_refused():
    with pytest.raises(h.HearingError, match="the prompt has 0.00 s of sound above -50 dBFS"):
        h.prepare_reference(np.zeros(8000), RATE)
    beep = np.concatenate([np.zeros(4000), 8000 * np.sin(np.arange(1600) * 0.3), np.zeros(4000)])
    with pytest.raises(h.HearingError, match="0.20 s of sound"):
        h.prepare_reference(beep, RATE)


def test_silence_longest_run_and_signal():
    tone = 3000 * np.sin(np.arange(RATE) * 2 * np.pi * 440 / RATE)  # 1 s, about -24 dBFS
    alaw_idle = np.full(int(2.3 * RATE), 8.0)  # PCMA's idle code decodes to +-8: -72 dBFS
    samples = np.concatenate([tone, alaw_idle, tone[:4000], np.zeros(RATE)])
    quiet = h.silence(samples, RATE)
    assert quiet.longest_s == 2.3 and quiet.longest_from_s == 1.0
    assert quiet.signal_s == 1.5 and quiet.has_signal
    nothing = h.silence(np.zeros(5 * RATE), RATE)
    assert nothing.longest_s == 5.0 and nothing.signal_s == 0.0 and not nothing.has_signal
    # Less than SIGNAL_MIN_S of sound (a click, a DTMF tone) is not audio flowing.
    blip = h.silence(np.concatenate([np.zeros(RATE), tone[:800], np.zeros(RATE)]), RATE)
    assert blip.signal_s == 0.1 and not blip.has_signal


def test_a_long_prompt_over_a_long_window_is_matched_in_bounded_memory(monkeypatch):
    """The reference's pieces are correlated in batches: a 20 s prompt searched over 40 s peaks
    at a few hundred MB (all pieces at once took about 1 GB here, and a 60 s hold message over
    300 s some 20 GB), and the answer does not depend on the batch size."""
    import tracemalloc

    rng = np.random.default_rng(7)
    reference = (rng.standard_normal(20 * RATE) * 3000).astype(np.int16)
    recording = rng.standard_normal(40 * RATE) * 30
    recording[int(12.5 * RATE): int(12.5 * RATE) + reference.size] += reference * 0.5
    ref = h.prepare_reference(reference, RATE)
    rec = h.band_limited(recording.astype(np.int16), RATE)
    tracemalloc.start()
    try:
        match = h.match_prepared(rec, ref, from_s=0, to_s=40)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert match.heard and match.start_s == pytest.approx(12.5, abs=0.001)
    assert peak < 400 * 2**20
    monkeypatch.setattr(h, "BATCH_SAMPLES", 1)  # one piece per batch
    assert h.match_prepared(rec, ref, from_s=0, to_s=40) == match
