"""report.html as a browser sees it: headless Chromium from Debian, offline."""

from __future__ import annotations

import base64
import html
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from callproof.reports import layout
from tests.reports.synthetic_run import BUSY_REASON

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
# /work/.library/env/machines/python.md: as root, and with no network lookups at start.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Appended to a copy of the page only: after the load event, record how many
# images Chromium itself decoded (naturalWidth > 0) and the fonts it resolved.
PROBE = """<script>
addEventListener("load", () => {
  const images = [...document.images];
  document.body.dataset.images = images.length;
  document.body.dataset.decoded = images.filter(i => i.complete && i.naturalWidth > 0).length;
});
</script>"""


def dump_dom(page: Path, tmp_path: Path) -> str:
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", probed.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_chromium_shows_verdict_every_sla_line_and_decodes_every_image(built_en, tmp_path):
    folder, truth = built_en
    dom = dump_dom(folder / layout.REPORT_HTML, tmp_path)

    lines = truth["summary"]["sla"]  # the verifier's
    verdict = re.search(r'<div id="verdict" class="verdict verdict-fail" data-verdict="FAIL">(.*?)</div>', dom, re.S)
    assert verdict is not None
    assert "FAIL" in verdict.group(1) and truth["summary"]["verdict_reason"] in html.unescape(verdict.group(1))

    rows = re.findall(
        r'<tr class="sla-line sla-(\w+)" data-sla-name="([^"]+)" data-verdict="(\w+)">(.*?)</tr>', dom, re.S
    )
    assert [(name, v) for _, name, v, _ in rows] == [(line["name"], line["verdict"]) for line in lines]
    cells = {
        name: [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]
        for _, name, _, body in rows
    }
    # 270 of 300 answered (seed 7); Wilson by hand [86.0834, 92.9052]: six significant digits, never rounded.
    assert cells["answer_rate"][1:5] == ["90 %", "≥ 95 %", "[86.0834, 92.9052]", "FAIL"]
    assert cells["setup_delay_p95"][1:5] == ["225.4 ms", "≤ 2000 ms", "[202.8, 246.6]", "PASS"]
    assert cells["one_way_delay_p95"][1:5] == ["not measured", "≤ 200 ms", "–", "INCONCLUSIVE"]

    # The far end's reason phrase is shown as text, not taken as markup.
    failed = re.search(r'<table id="failed-calls">(.*?)</table>', dom, re.S).group(1)
    reasons = [html.unescape(c) for c in re.findall(r"<td>486 (.*?)</td>", failed, re.S)]
    assert reasons and set(reasons) == {BUSY_REASON}

    images = int(re.search(r'data-images="(\d+)"', dom).group(1))
    decoded = int(re.search(r'data-decoded="(\d+)"', dom).group(1))
    assert images == decoded == 8
    payloads = re.findall(r'src="data:image/png;base64,([^"]+)"', dom)
    assert len(payloads) == 8
    sizes = []
    for payload in payloads:  # and an independent decoder agrees
        with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as picture:
            picture.load()
            sizes.append(picture.size)
    assert sizes == [(990, 396)] * 7 + [(990, 594)]  # the generator's health: two panels

    # Self-contained: nothing is fetched from anywhere.
    page = (folder / layout.REPORT_HTML).read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(https?:|//)', page)


def test_chinese_page_renders_in_chinese(built_zh, tmp_path):
    folder, truth = built_zh
    dom = dump_dom(folder / layout.REPORT_HTML, tmp_path)
    assert '<html lang="zh-Hans">' in dom
    assert "<h1>callproof 负载测试报告</h1>" in dom
    assert 'data-verdict="FAIL"' in dom and "(未通过)" in dom
    assert len(re.findall(r'<tr class="sla-line', dom)) == len(truth["summary"]["sla"])
    assert re.search(r'data-images="8" data-decoded="8"|data-decoded="8" data-images="8"', dom)
