"""What the scenario's call flow could not do, in words a verdict's reason can carry.

A rate line says that calls were not answered by an agent; these sentences say
why, when the records show it: DTMF steps the target did not take the way the
scenario sends them (callproof.sip.call hangs such a call up, Failure.DTMF_FAILED),
or an agent marker that never arrived on any call that waited for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from callproof.sip.records import CallRecord, Failure


def flow_notes(calls: Sequence[CallRecord], *, agent_marker: str | None) -> list[str]:
    """Sentences about the flow, most telling first; empty when the flow ran as written."""
    notes = []
    answered = [c for c in calls if c.answered]
    undelivered = [c for c in answered if c.failure is Failure.DTMF_FAILED]
    if undelivered:
        (method, reason), _ = Counter((c.dtmf_failure_method, c.dtmf_failure_reason)
                                      for c in undelivered).most_common(1)[0]
        notes.append(f"{len(undelivered)} of {len(answered)} answered calls were hung up because a DTMF step "
                     f"could not be delivered ({method}: {reason})")
    waited = [c for c in answered if c.failure is not Failure.DTMF_FAILED and c.failure is not Failure.ENGINE_ERROR]
    if agent_marker and waited and not any(c.agent_ms is not None for c in calls):
        notes.append(f"no call reached an agent: the target never sent the agent marker {agent_marker}; "
                     "are callproof's agents the ones answering the queue?")
    return notes
