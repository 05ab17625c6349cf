"""The Asterisk config parser the docker tests rely on: each rule, and each refusal."""

from __future__ import annotations

import pytest

from tests.docker.asterisk_config import ConfigError, dialplan, parse, resolve_goto


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_sections_options_and_both_assignment_styles(tmp_path):
    path = write(tmp_path, "x.conf", "[general]\nstatic = yes\n\n[support]\nmember => PJSIP/agent1\n")
    general, support = parse(path)
    assert (general.name, general.options) == ("general", (("static", "yes"),))
    assert support.options == (("member", "PJSIP/agent1"),)
    assert support.line == 4


def test_comments_escaped_semicolons_and_block_comments(tmp_path):
    text = "; heading\n[a]\nkey = v\\;w ; trailing\n;-- gone\nstill gone --;\nother = 2 ;-- inline --; \n"
    (section,) = parse(write(tmp_path, "x.conf", text))
    assert section.options == (("key", "v;w"), ("other", "2"))


def test_templates_and_inheritance_keep_order_and_let_the_last_value_win(tmp_path):
    text = "[base](!)\ntype = endpoint\nallow = ulaw\n[more](!,base)\nallow = alaw\n[ep](more)\ncontext = c\n"
    base, more, endpoint = parse(write(tmp_path, "x.conf", text))
    assert base.template and more.template and not endpoint.template
    assert endpoint.parents == ("more",)
    assert endpoint.options == (("type", "endpoint"), ("allow", "ulaw"), ("allow", "alaw"), ("context", "c"))
    assert endpoint.get("allow") == "alaw"
    assert endpoint.get("missing") is None


def test_repeated_names_stay_separate_and_plus_appends_to_the_last(tmp_path):
    text = "[agent1]\ntype = endpoint\n[agent1]\ntype = aor\n[agent1](+)\nmax_contacts = 1\n"
    endpoint, aor = parse(write(tmp_path, "x.conf", text))
    assert endpoint.options == (("type", "endpoint"),)
    assert aor.options == (("type", "aor"), ("max_contacts", "1"))


def test_include_continues_the_current_section(tmp_path):
    write(tmp_path, "inc.conf", "b = 2\n[next]\nc = 3\n")
    first, second = parse(write(tmp_path, "main.conf", "[s]\na = 1\n#include inc.conf\nd = 4\n"))
    assert first.options == (("a", "1"), ("b", "2"))
    assert second.options == (("c", "3"), ("d", "4"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("key = 1\n", "x.conf:1: option outside any section: 'key = 1'"),
        ("[a]\njust words\n", "x.conf:2: neither a section nor `key = value`: 'just words'"),
        ("[a\n", "x.conf:1: malformed section header '[a'"),
        ("[a]()\n", "x.conf:1: empty () after [a]"),
        ("[a](tmpl)\n", "x.conf:1: [a] inherits from [tmpl], which is not defined before it"),
        ("[a](+)\n", "x.conf:1: [a](+) adds to a section that does not exist yet"),
        ("[a]\n#exec /bin/true\n", "x.conf:2: only `#include FILE` is used here, not '#exec /bin/true'"),
        ("[a]\n#include nothere.conf\n", "nothere.conf: no such file"),
        ("[a]\n;-- open\n", "x.conf: block comment ;-- never closed with --;"),
    ],
)
def test_refusals_name_file_and_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as error:
        parse(write(tmp_path, "x.conf", text))
    assert str(error.value).endswith(message)


def test_dialplan_priorities_labels_and_goto(tmp_path):
    text = (
        "[globals]\nX = 1\n"
        "[in]\nexten => 600,1,Goto(ivr,s,1)\n"
        "[ivr]\nexten => s,1,Answer()\n same => n(menu),Background(p)\n same => n,WaitExten(5)\n"
        "exten => t,1,Goto(s,menu)\n"
    )
    contexts = dialplan(parse(write(tmp_path, "extensions.conf", text)))
    assert set(contexts) == {"in", "ivr"}
    menu = contexts["ivr"]["s"][1]
    assert (menu.number, menu.label, menu.app, menu.args) == (2, "menu", "Background", "p")
    assert contexts["ivr"]["s"][2].app == "WaitExten"
    assert resolve_goto(contexts, contexts["in"]["600"][0], "ivr,s,1") == contexts["ivr"]["s"][0]
    assert resolve_goto(contexts, contexts["ivr"]["t"][0], "s,menu") == menu


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[c]\nsame => n,Answer()\n", "`same` before any `exten`"),
        ("[c]\nexten => 1,2,Answer()\n", "priority 2 where 1 comes next"),
        ("[c]\nexten => 1,n,Answer()\n", "priority n before priority 1"),
        ("[c]\nexten => 1,1,Bad App()\n", "not NAME,PRIORITY,App(args)"),
        ("[c]\nfoo = bar\n", "only exten and same lines belong in a dialplan context"),
    ],
)
def test_dialplan_refusals(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dialplan(parse(write(tmp_path, "extensions.conf", text)))


def test_goto_to_a_missing_target_is_refused(tmp_path):
    contexts = dialplan(parse(write(tmp_path, "extensions.conf", "[c]\nexten => 1,1,Goto(nowhere,s,1)\n")))
    with pytest.raises(ConfigError, match=r"no extension s in \[nowhere\]"):
        resolve_goto(contexts, contexts["c"]["1"][0], "nowhere,s,1")
