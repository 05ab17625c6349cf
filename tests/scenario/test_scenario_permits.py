"""What a scenario may read of the machine it runs on (issue 14, section 1): *_env keys name CALLPROOF_*
variables only (or one the person running it names with --allow-env), and prompts stay inside the scenario's
folder (or are named with --allow-prompt). Each refusal is one sentence with the file, the line and the key."""

from __future__ import annotations

import shutil
import wave

import pytest

from callproof.harness.errors import BadInput
from callproof.harness.scenario.loader import load_scenario
from callproof.harness.scenario.model import Permits

SCENARIO = """\
name: t
description: test
target:
  uri: sip:600@pbx.example.com
  credentials:
    username_env: {user}
    password_env: {password}
load:
  peak_concurrent: 4
  duration_s: 30
  max_cps: 10
  max_concurrent: 10
call:
  talk_time: {{distribution: fixed, value_s: 2}}
  prompt: {prompt}
"""


def write(tmp_path, *, user="CALLPROOF_T_USER", password="CALLPROOF_T_PASSWORD", prompt="null"):
    folder = tmp_path / "scenario"
    folder.mkdir(exist_ok=True)
    path = folder / "s.yaml"
    path.write_text(SCENARIO.format(user=user, password=password, prompt=prompt))
    return path


def refused(path, permits=None) -> str:
    with pytest.raises(BadInput) as caught:
        load_scenario(path, permits=permits)
    return str(caught.value)


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    monkeypatch.setenv("CALLPROOF_T_USER", "caller")
    monkeypatch.setenv("CALLPROOF_T_PASSWORD", "pw")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("CALLPROOF_MASTER_SECRET", "0123456789abcdef0123456789abcdef")


@pytest.mark.parametrize("key, line", [("username", 6), ("password", 7)])
@pytest.mark.parametrize("variable", ["PATH", "AWS_SECRET_ACCESS_KEY", "HOME", "callproof_lower", "CALLPROOF_"])
def test_an_env_key_naming_any_variable_is_refused_and_its_value_never_read(tmp_path, key, line, variable):
    path = write(tmp_path, **{"username": {"user": variable}, "password": {"password": variable}}[key])
    message = refused(path)
    assert message == (f"{path}, line {line}: target.credentials.{key}_env names the environment variable "
                       f"{variable}, which a scenario may not read: name a CALLPROOF_ variable, or allow this one "
                       f"with --allow-env {variable}")
    assert "wJalrXUtnFEMI" not in message


def test_the_masters_shared_secret_is_no_credential(tmp_path):
    path = write(tmp_path, password="CALLPROOF_MASTER_SECRET")
    assert refused(path) == (f"{path}, line 7: target.credentials.password_env names CALLPROOF_MASTER_SECRET, "
                             "callproof's own setting, not a credential")


def test_a_variable_named_on_the_command_line_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("PBX_PASSWORD", "from-the-vault")
    path = write(tmp_path, password="PBX_PASSWORD")
    scenario = load_scenario(path, permits=Permits(env_names=frozenset({"PBX_PASSWORD"})))
    assert scenario.target.credentials.password == "from-the-vault"


def test_agents_password_env_follows_the_same_rule(tmp_path):
    path = write(tmp_path)
    path.write_text(path.read_text() + "agents:\n  register_to: sip:pbx.example.com\n  password_env: HOME\n")
    assert refused(path) == (f"{path}, line 18: agents.password_env names the environment variable HOME, which "
                             "a scenario may not read: name a CALLPROOF_ variable, or allow this one with "
                             "--allow-env HOME")


def test_a_bundles_scenario_read_offline_reads_no_variable_at_all(tmp_path):
    path = write(tmp_path, password="AWS_SECRET_ACCESS_KEY")
    scenario = load_scenario(path, offline=True)  # `callproof report` and `verify` on someone else's bundle
    assert scenario.target.credentials.password == ""


def _wav(path):
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 800)
    return path


def test_a_prompt_outside_the_scenarios_folder_is_refused_unless_named(tmp_path):
    outside = _wav(tmp_path / "private.wav")
    for written in (str(outside), "../private.wav"):
        path = write(tmp_path, prompt=written)
        assert refused(path) == (f"{path}, line 15: call.prompt names {written}, which is outside the scenario's "
                                 f"folder; callproof plays such a file only when you name it with --allow-prompt "
                                 f"{outside}")
        scenario = load_scenario(path, permits=Permits(prompt_files=frozenset({outside})))
        assert scenario.call.prompt == outside


def test_a_link_inside_the_folder_to_a_file_outside_is_outside(tmp_path):
    outside = _wav(tmp_path / "private.wav")
    path = write(tmp_path, prompt="hello.wav")
    (path.parent / "hello.wav").symlink_to(outside)
    assert refused(path).endswith(f"is outside the scenario's folder; callproof plays such a file only when you "
                                  f"name it with --allow-prompt {outside}")


def test_a_prompt_inside_the_folder_plays(tmp_path):
    path = write(tmp_path, prompt="prompts/hello.wav")
    (path.parent / "prompts").mkdir()
    shutil.copy(_wav(tmp_path / "x.wav"), path.parent / "prompts" / "hello.wav")
    assert load_scenario(path).call.prompt == path.parent / "prompts" / "hello.wav"
