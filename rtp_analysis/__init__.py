"""RTP metrics (RFC 3550, Wireshark-compatible), ITU-T G.107 E-model, P.862 PESQ, capture ingestion.

Pure: numbers in, numbers out; imports nothing from harness, sip or reports.

    analyze_capture(path, *, concealment=True) -> list[StreamReport]   (rtp_analysis.capture)
    call_quality(media, *, concealment, echo_path) -> {"rx": dict, "tx": dict}   (rtp_analysis.quality)
    quality_disagreement(stream_quality, pesq_result) -> str | None   (rtp_analysis.quality)
    pesq_score(reference_wav, degraded_wav) -> PesqResult   (rtp_analysis.pesq; imports scipy and pesq)
"""

from rtp_analysis.capture import StreamReport, analyze_capture
from rtp_analysis.errors import AudioError, CaptureError
from rtp_analysis.quality import StreamQuality, call_quality, capture_quality, quality_disagreement

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
