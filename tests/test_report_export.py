"""Report formats as exporters: one document of sections, rendered by the Markdown and the HTML
exporter, says the same thing in both; the per-set report is written through them. No engine."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis import export
from analysis.claims import load_claims
from analysis.export import html as html_export
from analysis.export import markdown
from analysis.export.content import Document, Figure, Figures, Notes, Paragraph, Section, Span, Table, plain, strong
from analysis.load import load
from analysis.report import build_report
from analysis.tables import md_table, table_of
from bench.results.synthetic import DEFAULT_PHASE_MS, SyntheticMode
from bench.schedule.scripted import scripted_run

# A 1x1 PNG: the exporters embed or link figures, they never draw them.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture
def doc(tmp_path: Path) -> Document:
    (tmp_path / "fig.png").write_bytes(PNG)
    table = Table(("mode", "median", "n"), (("run|c <b>", 1.2345, 3), ("runsc", math.nan, 4)), decimals=1)
    return Document(
        "report <x>",
        (
            Section(None, (Paragraph(strong("Verdict: SUPPORTED")),), anchor="headline"),
            Section(
                "Claims",
                (
                    Paragraph((Span("a < b", strong=True), Span(" (startup): "), Span("supported", True, "supported"))),
                    Notes(((Span("pair: "), Span("contradicted", tone="contradicted")),)),
                ),
            ),
            Section("Summary & more", (table, Notes((plain("note <one>"),)))),
            Section("Per node", (Table(("node",), (("n1",),)),), level=3),
            Section("Figures", (Figures((Figure(tmp_path / "fig.png", "fig"),)),)),
        ),
    )


def test_markdown_renders_every_block(doc):
    md = markdown.render(doc)
    assert md.startswith("# report <x>\n\n**Verdict: SUPPORTED**\n\n## Claims\n\n**a < b** (startup): **supported**\n")
    assert "- pair: contradicted\n" in md
    assert "| mode | median | n |\n|---|---|---|\n| run\\|c <b> | 1.2 | 3 |\n| runsc | - | 4 |\n" in md
    assert "- note <one>\n" in md and "### Per node\n" in md
    assert md.endswith("## Figures\n\n![fig](fig.png)\n")  # one newline at the end, the figure linked by name


def test_html_renders_every_block_escaped_and_self_contained(doc):
    page = html_export.render(doc)
    assert page.startswith("<!doctype html>") and page.endswith("</body></html>")
    assert "<title>report &lt;x&gt;</title>" in page and "<h1>report &lt;x&gt;</h1>" in page
    # The headline is a card, first; tables are sortable (inline script, nothing fetched).
    assert "<section id='headline' class='card'><p><b>Verdict: SUPPORTED</b></p></section>" in page
    assert "<table class='sortable'>" in page
    assert "<b class='supported'>supported</b>" in page and "<span class='contradicted'>contradicted</span>" in page
    assert "<td>run|c &lt;b&gt;</td><td>1.2</td><td>3</td>" in page and "<td>-</td>" in page
    assert "<h2>Summary &amp; more</h2>" in page and "<h3>Per node</h3>" in page
    assert "<p><b>a &lt; b</b> (startup): <b class='supported'>supported</b></p>" in page
    assert "<ul><li>pair: <span class='contradicted'>contradicted</span></li></ul>" in page
    assert "<ul><li>note &lt;one&gt;</li></ul>" in page
    assert (
        "src='data:image/png;base64," in page and page.count("<script") == 1 and '<script data-isobench="sort">' in page
    )


def test_both_formats_carry_the_same_headings_and_cells(doc):
    md, page = markdown.render(doc), html_export.render(doc)
    md_headings = re.findall(r"^#+ (.*)$", md, flags=re.M)
    html_headings = [html.unescape(h) for h in re.findall(r"<h\d>(.*?)</h\d>", page)]
    assert md_headings == html_headings == ["report <x>", "Claims", "Summary & more", "Per node", "Figures"]
    for section in doc.sections:
        for block in section.blocks:
            if isinstance(block, Table):
                for row in block.text_rows():
                    for cell in row:
                        assert cell.replace("|", "\\|") in md and html.escape(cell) in page


def test_a_frame_becomes_a_table_with_its_cells_as_pandas_gives_them():
    df = pd.DataFrame({"mode": ["a", "b|c"], "median": [1.0, math.nan], "n": [3, 4]})
    t = table_of(df, 3)
    assert t.columns == ("mode", "median", "n") and t.decimals == 3
    assert t.text_rows() == [["a", "1.000", "3"], ["b|c", "-", "4"]]
    # the comparison's Markdown table is the exporter's table of the same frame
    assert (
        md_table(df, 3)
        == markdown.table(t)
        == "| mode | median | n |\n|---|---|---|\n| a | 1.000 | 3 |\n| b\\|c | - | 4 |"
    )


def test_the_report_is_written_by_every_exporter_with_the_same_sections(tmp_path):
    modes = [
        SyntheticMode("runc", "native", DEFAULT_PHASE_MS),
        SyntheticMode("runsc", "hyperv", {k: v * 1.4 for k, v in DEFAULT_PHASE_MS.items()}),
    ]
    path = scripted_run(tmp_path / "20260101T000000Z_h_docker-1.jsonl", modes, rounds=12, seed=1)
    out = tmp_path / "rep"
    build_report(load([path], warn=False), path.stem, load_claims(), out, with_figures=False)
    assert set(export.EXPORTERS) == {"report.md", "index.html"}
    md, page = (out / "report.md").read_text(), (out / "index.html").read_text()
    md_headings = re.findall(r"^#+ (.*)$", md, flags=re.M)
    html_headings = [html.unescape(h) for h in re.findall(r"<h\d>(.*?)</h\d>", page)]
    assert md_headings == html_headings
    assert md_headings[1:] == [
        "Claims",
        "Transport round trips (preflight)",
        "Summary (ms, successful samples; failures counted)",
        "Figures",
    ]
    assert "**Startup time ranks native < hyperv < toolbox** (startup): **" in md
    assert "<b>Startup time ranks native &lt; hyperv &lt; toolbox</b> (startup): <b class='" in page


def test_a_scenario_brings_its_own_part_into_the_report_only_when_the_set_holds_it(tmp_path):
    """The scale part comes through the burst scenario's analysis record (analysis.scenarios), in both
    formats, with its figure offered to the headline; a warm-only set (above) has none."""
    from bench.results.synthetic import burst_synthetic

    fast = SyntheticMode("runc", "native", DEFAULT_PHASE_MS)
    path = burst_synthetic(tmp_path / "20261201T000000Z_s_docker-1.jsonl", [fast], (1, 4), 4, {}, 5)
    out = tmp_path / "rep"
    rep = build_report(load([path], warn=False), path.stem, load_claims(), out, with_figures=True)
    assert [type(p).__name__ for p in rep.parts] == ["ScaleSection"]
    md, page = (out / "report.md").read_text(), (out / "index.html").read_text()
    heading = "Bursts: startup per container (ms) by burst size N"
    assert heading in md and heading in html.unescape(page)
    assert (out / "scale_startup_vs_n.png").exists()
    assert "scale_startup_vs_n" in md.split("## Claims")[0]  # the headline's figure
