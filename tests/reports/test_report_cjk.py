"""Chinese reports: CJK text drawn with a real CJK font in the PDF and plots, never empty boxes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from matplotlib import font_manager

from callproof.reports import bundle, i18n, layout, model, plots
from tests.reports.synthetic_run import make_run


def fontconfig_chinese_files() -> set[str]:
    """The files of the Chinese faces we know that fontconfig lists: what is installed, asked without matplotlib."""
    if shutil.which("fc-list") is None:
        return set()
    listing = subprocess.run(["fc-list", ":lang=zh", "family", "file"], capture_output=True, text=True,
                             timeout=60).stdout
    files = set()
    for line in listing.splitlines():  # "/usr/share/fonts/.../NotoSansCJK-Regular.ttc: Noto Sans CJK SC,..."
        path, _, families = line.partition(": ")
        if {name.strip() for name in families.split(",")} & set(i18n.CJK_FAMILIES):
            files.add(path)
    return files


# Skipped only where no Chinese font is installed at all; where one is (CI installs fonts-noto-cjk),
# callproof not finding it is a failure, never a skip.
needs_poppler = pytest.mark.skipif(shutil.which("pdffonts") is None, reason="needs poppler-utils")
needs_cjk = pytest.mark.skipif(not fontconfig_chinese_files(),
                               reason="no Chinese font installed (fc-list :lang=zh; Debian: fonts-noto-cjk)")


def pdf_fonts(pdf: Path) -> list[list[str]]:
    out = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split() for line in out.splitlines()[2:]]


def pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout


@needs_cjk
def test_the_cjk_font_is_found_on_debian():
    font = i18n.find_cjk_font()
    assert font.family == "Noto Sans CJK SC"
    assert font.path == "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
    bold = i18n.find_cjk_font(bold=True)
    assert bold.path == "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"


@needs_cjk
def test_a_font_installed_after_matplotlib_cached_its_list_is_found(tmp_path):
    """matplotlib's font list cached before fonts-noto-cjk was installed: callproof scans again and finds it."""
    stale = tmp_path / f"fontlist-v{font_manager.FontManager.__version__}.json"
    font_manager.json_dump(font_manager.fontManager, stale)
    cached = json.loads(stale.read_text())
    chinese = fontconfig_chinese_files()
    cached["ttflist"] = [entry for entry in cached["ttflist"] if entry["fname"] not in chinese]
    stale.write_text(json.dumps(cached))
    probe = ("import json; from matplotlib import font_manager; from callproof.reports import i18n; "
             "before = [f.name for f in font_manager.fontManager.ttflist if f.name in i18n.CJK_FAMILIES]; "
             "font = i18n.find_cjk_font(); print(json.dumps({'before': before, 'after': font and font.path}))")
    done = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MPLCONFIGDIR": str(tmp_path)}, check=True)
    seen = json.loads(done.stdout)
    assert seen["before"] == []  # the stale list really lacked it
    assert seen["after"] in chinese
    rewritten = json.loads(stale.read_text())  # the next run finds it without scanning
    assert {entry["fname"] for entry in rewritten["ttflist"]} >= chinese


@needs_cjk
@needs_poppler
def test_chinese_pdf_embeds_the_cjk_font_and_keeps_real_text(built_zh):
    folder, _ = built_zh
    pdf = folder / layout.REPORT_PDF
    fonts = pdf_fonts(pdf)
    # name, type (CID Type 0C = CFF outlines declared as such), emb/sub/uni all "yes"
    cjk = [row for row in fonts if "NotoSansCJKSC" in row[0]]
    assert cjk, fonts
    for row in cjk:
        assert row[1:4] == ["CID", "Type", "0C"] and row[-5:-2] == ["yes", "yes", "yes"], row
    words = pdf_text(pdf)
    for phrase in ("callproof 负载测试报告", "判定: FAIL (未通过)", "SLA 指标", "未测得", "最差呼叫", "图表"):
        assert phrase in words, phrase


@needs_cjk
def test_chinese_plots_use_the_cjk_font_with_no_missing_glyph(built_zh):
    folder, _ = built_zh
    data = model.load(folder)
    cjk = i18n.find_cjk_font()
    families = [cjk.family, "DejaVu Sans"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figures = plots.render_all(data, i18n.Translator("zh"), families)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []
    assert len(figures) == 8 and all(f.png.startswith(b"\x89PNG\r\n\x1a\n") for f in figures)
    # matplotlib resolves a Chinese label to the Noto file, not to a fallback.
    prop = font_manager.FontProperties(family=families)
    assert font_manager.findfont(prop, fallback_to_default=False) == cjk.path
    # With DejaVu alone the same labels would miss glyphs: the check above can fail.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plots.render_all(data, i18n.Translator("zh"), ["DejaVu Sans"])
    assert any("missing from font" in str(w.message) for w in caught)


@needs_poppler
def test_without_a_cjk_font_one_line_says_so_and_pdf_is_english(tmp_path, signing_key, monkeypatch):
    monkeypatch.setattr(i18n, "find_cjk_font", lambda bold=False: None)
    make_run(tmp_path / "run", calls=60)
    said: list[str] = []
    result = bundle.finalize(tmp_path / "run", key_path=signing_key, lang="zh", notify=said.append)
    assert said == [i18n.NO_CJK_FONT]
    assert (result.lang, result.plot_lang) == ("zh", "en")
    assert "callproof load test report" in pdf_text(tmp_path / "run" / layout.REPORT_PDF)
    assert [row[0] for row in pdf_fonts(tmp_path / "run" / layout.REPORT_PDF) if "CJK" in row[0]] == []
    assert "callproof 负载测试报告" in (tmp_path / "run" / layout.REPORT_HTML).read_text(encoding="utf-8")


def test_the_time_to_prompt_plot_is_drawn_in_chinese_when_prompts_were_expected(built_zh):
    """hearing.jsonl's prompts (docs/hearing.md) add the time-to-prompt plot, its labels in Chinese too."""
    import dataclasses

    folder, _ = built_zh
    data = dataclasses.replace(model.load(folder), prompts=(("menu.wav", 620.0), ("menu.wav", 640.0),
                                                            ("hold.wav", None), ("hold.wav", 2100.0)))
    cjk = i18n.find_cjk_font()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figures = plots.render_all(data, i18n.Translator("zh"), [cjk.family, "DejaVu Sans"])
    assert [str(w.message) for w in caught if "missing from font" in str(w.message)] == []
    (plot,) = [f for f in figures if f.key == "time_to_prompt"]
    assert plot.title == "提示音到达时间（call.expect）的分布" and plot.png.startswith(b"\x89PNG")


@needs_cjk
@needs_poppler
def test_an_english_pdf_reads_the_cjk_font_only_for_far_end_text_that_needs_it(tmp_path, signing_key):
    """Reading the CJK font costs 0.8 s: an English report takes it only when a reason phrase,
    Call-ID or name of the far end's has a character DejaVu Sans lacks, and then shows that text."""
    latin, chinese = tmp_path / "latin", tmp_path / "chinese"
    make_run(latin, calls=60)
    make_run(chinese, calls=60)
    calls = chinese / layout.CALLS
    calls.write_text(calls.read_text(encoding="utf-8").replace('"Service Unavailable"', '"服务暂不可用"'),
                     encoding="utf-8")
    for folder in (latin, chinese):
        bundle.finalize(folder, key_path=signing_key, lang="en", notify=lambda message: None)
    assert [row[0] for row in pdf_fonts(latin / layout.REPORT_PDF) if "CJK" in row[0]] == []
    assert [row[0] for row in pdf_fonts(chinese / layout.REPORT_PDF) if "CJK" in row[0]] != []
    assert "503 服务暂不可用" in pdf_text(chinese / layout.REPORT_PDF)
