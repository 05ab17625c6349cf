"""An agent records who called as the INVITE names the caller: From as received, and the identity a
PBX asserts when it anonymises From (Asterisk to a trusted endpoint, docker/asterisk/pjsip.conf)."""

from __future__ import annotations

from callproof.sip.identity import caller_identity

ASTERISK_TO_AGENT = (
    "INVITE sip:agent1@192.0.2.10:5062 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bKPj1\r\n"
    'From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=8f1c2d\r\n'
    "To: <sip:agent1@192.0.2.10>\r\n"
    "Contact: <sip:asterisk@192.0.2.1:5060>\r\n"
    "Call-ID: 5d1e\r\n"
    "CSeq: 1 INVITE\r\n"
    "P-Asserted-Identity: <sip:caller@192.0.2.1>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n\r\n"
    "v=0\r\n"
)


def test_from_without_its_tag_and_the_asserted_identity():
    assert caller_identity(ASTERISK_TO_AGENT) == {
        "from": '"Anonymous" <sip:anonymous@anonymous.invalid>',
        "asserted_identity": "<sip:caller@192.0.2.1>",
    }


def test_compact_from_and_remote_party_id_and_nothing_asserted():
    invite = ("INVITE sip:a@h SIP/2.0\r\nf: <sip:caller@10.0.0.5>;tag=1;x=y\r\n"
              'Remote-Party-ID: "C" <sip:100@pbx>;party=calling\r\n\r\n')
    assert caller_identity(invite) == {"from": "<sip:caller@10.0.0.5>;x=y",
                                       "asserted_identity": '"C" <sip:100@pbx>;party=calling'}
    assert caller_identity("INVITE sip:a@h SIP/2.0\r\nFrom: <sip:c@h>;tag=9\r\n\r\n") == {
        "from": "<sip:c@h>", "asserted_identity": None}
    assert caller_identity("") == {"from": None, "asserted_identity": None}
