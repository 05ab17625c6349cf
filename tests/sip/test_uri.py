"""One SIP URI parser (callproof.sip.uri) for the scenario, the engine settings, the probes and the registrar.

Each case below was accepted or refused by at least one of the four grammars it replaces
(the scenario loader's, sip/settings.py's, the prober's and the registrar's split); the
comments say where the one grammar now decides otherwise, and why.
"""

from __future__ import annotations

import re

import jsonschema
import pytest

from callproof.harness.scenario.loader import scenario_schema, sip_uri_problem
from callproof.sip.errors import SipConfigError
from callproof.sip.settings import AccountSpec, CallSpec
from callproof.sip.uri import PATTERN, SipUri, SipUriError, redact


@pytest.mark.parametrize(
    "text, user, host, port, params, udp, server",
    [
        ("sip:600@pbx.example.com", "600", "pbx.example.com", None, (), 5060, "sip:pbx.example.com"),
        ("sip:600@pbx.example.com:5080;transport=tcp", "600", "pbx.example.com", 5080, ("transport=tcp",), 5080,
         "sip:pbx.example.com:5080"),
        ("sips:600@pbx.example.com", "600", "pbx.example.com", None, (), 5061, "sips:pbx.example.com"),
        ("sip:127.0.0.1:5080", None, "127.0.0.1", 5080, (), 5080, "sip:127.0.0.1:5080"),
        ("sip:agent@[::1]:5062", "agent", "::1", 5062, (), 5062, "sip:[::1]:5062"),
        ("sip:[2001:db8::1];lr", None, "2001:db8::1", None, ("lr",), 5060, "sip:[2001:db8::1]"),
        ("sip:pbx.example.com.", None, "pbx.example.com.", None, (), 5060, "sip:pbx.example.com."),
        ("sip:+15551234567@gw.example.com;user=phone", "+15551234567", "gw.example.com", None, ("user=phone",),
         5060, "sip:gw.example.com"),
        ("sip:*97%23@pbx", "*97%23", "pbx", None, (), 5060, "sip:pbx"),
        # RFC 3261 25.1 user-unreserved ";": sip/settings.py took it, the loader refused it; the RFC decides.
        ("sip:alice;day=tuesday@pbx", "alice;day=tuesday", "pbx", None, (), 5060, "sip:pbx"),
        ("sip:x@127.0.0.1:5080;transport=tcp;lr", "x", "127.0.0.1", 5080, ("transport=tcp", "lr"), 5080,
         "sip:127.0.0.1:5080"),
        ("sip:1@b-c.example:1", "1", "b-c.example", 1, (), 1, "sip:b-c.example:1"),
        ("sip:1@host:65535", "1", "host", 65535, (), 65535, "sip:host:65535"),
    ],
)
def test_a_sip_uri_and_the_forms_callproof_needs(text, user, host, port, params, udp, server):
    uri = SipUri.parse(text)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port, uri.params) == (
        text.split(":")[0], user, None, host, port, params)
    assert uri.host_port("udp") == (host, udp)
    assert uri.server() == server  # where OPTIONS go, and the registrar of a target
    assert re.search(PATTERN, text)


def test_tls_and_sips_default_to_5061():
    assert SipUri.parse("sip:pbx").host_port("tls") == ("pbx", 5061)
    assert SipUri.parse("sips:pbx").host_port("tcp") == ("pbx", 5061)
    assert SipUri.parse("sip:pbx").host_port("tcp") == ("pbx", 5060)


def test_a_password_is_parsed_and_never_shown():
    uri = SipUri.parse("sip:alice:s3cret@pbx:5060")
    assert (uri.user, uri.password, uri.server()) == ("alice", "s3cret", "sip:pbx:5060")
    assert "s3cret" not in repr(uri)


MALFORMED = [
    "pbx.example.com",
    "sip:@@bad",
    "sip:bad host",
    "http://pbx.example.com",
    "SIP:600@pbx",  # the scheme as every old grammar took it: lower case
    "sip:a..b",  # an empty label: sip/settings.py took it
    "sip:-pbx",
    "sip:pbx_1.example",
    "sip:600@pbx;",
    "sip:600@pbx\n",  # sip/settings.py's `$` took a trailing newline
    "sip:600@[::g]",
    "sip:",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_text_that_is_no_sip_uri_is_named_in_one_sentence(text):
    with pytest.raises(SipUriError) as caught:
        SipUri.parse(text, "target.uri")
    shown = text.replace("\n", "\\n")
    assert str(caught.value) == f'target.uri must be a SIP URI such as sip:600@pbx.example.com (got "{shown}")'
    assert isinstance(caught.value, SipConfigError) and caught.value.exit_code == 2


@pytest.mark.parametrize(
    "text, problem",
    [
        ("sip:600@pbx.example.com:70000", "has port 70000, outside 1-65535"),
        ("sip:600@pbx.example.com:0", "has port 0, outside 1-65535"),  # sip/settings.py took port 0
        ("sip:600@[1::2::3]", "has a malformed IPv6 address [1::2::3]"),  # sip/settings.py took it
        # RFC 3261 19.1.1: no headers in a request URI (sip/settings.py took them, the loader did not).
        ("sip:600@pbx?subject=x", "must not carry headers (?...): a request URI has none (RFC 3261 19.1.1)"),
    ],
)
def test_a_sip_uri_with_a_bad_part_says_which(text, problem):
    with pytest.raises(SipUriError) as caught:
        SipUri.parse(text, "target.uri")
    assert (str(caught.value), caught.value.problem) == (f"target.uri {problem}", problem)


@pytest.mark.parametrize(
    "text, shown",
    [
        ("sip:600:secret@@x", '"sip:600@x"'),
        ("sips:alice:p@ss;word@pbx.example", '"sips:alice@pbx.example"'),  # a raw @ in the password
        ("sip:a:secret@bad host", '"sip:a@bad host"'),
    ],
)
def test_no_error_shows_a_password(text, shown):
    with pytest.raises(SipUriError) as caught:
        SipUri.parse(text, "registrar URI")
    assert str(caught.value) == f"registrar URI must be a SIP URI such as sip:600@pbx.example.com (got {shown})"
    assert "secret" not in str(caught.value) and "ss;word" not in str(caught.value)
    assert redact(text) == shown.strip('"')


def test_the_scenario_schema_holds_the_same_grammar():
    """The schema refuses what the parser finds malformed, in the same words, wherever it sees a URI first."""
    definition = scenario_schema()["$defs"]["sip_uri"]
    assert definition["pattern"] == PATTERN
    check = jsonschema.Draft202012Validator(definition)
    # jsonschema runs a pattern with Python's re.search, whose `$` also matches before a final
    # newline: that one case reaches the loader, which parses with SipUri and refuses it.
    assert [text for text in MALFORMED if check.is_valid(text)] == ["sip:600@pbx\n"]
    assert sip_uri_problem("sip:600@pbx\n").startswith("must be a SIP URI such as")
    assert check.is_valid("sip:alice;day=tuesday@pbx") and check.is_valid("sip:600:pw@pbx")
    assert sip_uri_problem("sip:600:pw@pbx") == (
        "must not carry a password (user:password@, RFC 3261 19.1.1); use target.credentials")


def test_the_engine_settings_use_the_same_parser():
    with pytest.raises(SipUriError, match=r'^registrar URI must be a SIP URI such as .* \(got "sip:bad host"\)$'):
        AccountSpec(registrar="sip:bad host")
    with pytest.raises(SipUriError, match=r"^outbound proxy URI has port 0, outside 1-65535$"):
        AccountSpec(proxy="sip:proxy:0")
    with pytest.raises(SipUriError, match=r"^target URI must not carry headers"):
        CallSpec(uri="sip:600@pbx?x=1")
    assert CallSpec(uri="sip:x@127.0.0.1:5080;transport=tcp").uri == "sip:x@127.0.0.1:5080;transport=tcp"
