"""RTP metrics (RFC 3550, Wireshark-compatible), ITU-T G.107 E-model, P.862 PESQ, capture ingestion. Pure: numbers in, numbers out."""
