"""RTP metrics (RFC 3550, Wireshark-compatible), ITU-T G.107 E-model, P.862 PESQ, capture ingestion.

Pure: numbers in, numbers out; imports nothing from harness, sip or reports.

    analyze_capture(path, *, concealment=True) -> list[StreamReport]   (callproof.rtp_analysis.capture)
    call_quality(media, *, concealment, echo_path) -> {"rx": dict, "tx": dict}   (callproof.rtp_analysis.quality)
    quality_disagreement(stream_quality, pesq_result) -> str | None   (callproof.rtp_analysis.quality)
    pesq_score(reference_wav, degraded_wav) -> PesqResult   (callproof.rtp_analysis.pesq; imports scipy and pesq)
    match_prompt(recording, rate, reference, rate, *, from_s, to_s) -> PromptMatch, silence(samples, rate)
        -> Silence   (callproof.rtp_analysis.hearing: what the caller heard; imports scipy)
    loss_fraction(call), jitter_ms(call), mos_cqe(call)...   (callproof.rtp_analysis.call_figures: per-call
        figures, one definition for the verifier's SLA lines and the report's plots)
"""

from callproof.rtp_analysis.capture import StreamReport, analyze_capture
from callproof.rtp_analysis.errors import AudioError, CaptureError
from callproof.rtp_analysis.quality import StreamQuality, call_quality, capture_quality, quality_disagreement

__all__ = [
    "AudioError",
    "CaptureError",
    "StreamQuality",
    "StreamReport",
    "analyze_capture",
    "call_quality",
    "capture_quality",
    "quality_disagreement",
]
