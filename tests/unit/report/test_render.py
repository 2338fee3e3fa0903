from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from vcmon.model import Level, Verdict
from vcmon.report import write_report
from vcmon.report.data import (
    LinkRow,
    PurchaseRow,
    ReasonRow,
    ReportData,
    SiteRow,
    SpofRow,
    SummaryRow,
    ThresholdRow,
    WaveRow,
)
from vcmon.report.render import render_html, translations

TEMPLATE = Path(__file__).resolve().parents[3] / "vcmon/report/templates/report.html.j2"
RENDER = Path(__file__).resolve().parents[3] / "vcmon/report/render.py"


def _data() -> ReportData:
    ok, meh, bad = Verdict.READY, Verdict.DEGRADED, Verdict.NOT_READY
    sites = (
        SiteRow("51", "Trung tâm Dữ liệu", Level.PROVINCE, None, 15.12, 108.80, 1, {"hd": ok}),
        SiteRow(
            "530",
            "Sơn Tây",
            Level.DISTRICT,
            "530",
            14.97,
            108.36,
            2,
            {"hd": meh},
            None,
            0.0412,
            0.004,
            0.002,
        ),
        SiteRow(
            "21340",
            "Sơn Dung",
            Level.COMMUNE,
            "530",
            14.99,
            108.35,
            1,
            {"hd": bad},
            None,
            0.180,
            0.021,
            0.031,
        ),
        SiteRow(
            "21334",
            "<script>alert(1)</script>",
            Level.COMMUNE,
            "530",
            14.96,
            108.33,
            1,
            {"hd": ok},
            "hd",
            0.020,
            0.002,
            0.0,
        ),
    )
    return ReportData(
        title="Quảng Ngãi",
        generated_at=datetime(2026, 11, 30, 1, 0, tzinfo=UTC),
        bridge="51",
        topology="mcu",
        plan_profile="hd",
        profiles=("hd",),
        summary=(SummaryRow("hd", 1, 1, 1, 0, 2, 1),),
        sites=sites,
        reasons=(
            ReasonRow("21340", "hd", "rtt_p95", bad, 0.180, 0.1, "Teams network requirements"),
            ReasonRow("530", "hd", "spare_up", meh, 4e6, 4.32e6, "Cisco QoS", "dc-530"),
        ),
        thresholds=(ThresholdRow("hd", "rtt_p95", 0.1, 0.3, "Teams network requirements"),),
        links=(
            LinkRow("dc-530", "530", "51", "fibre", 10e6, 10e6, 4.32e6, 4.32e6),
            LinkRow("530-21340", "21340", "530", "vpn", 1e6, 1e6, 1.44e6, 1.44e6),
        ),
        spofs=(SpofRow("link", "dc-530", ("21334", "21340", "530")),),
        purchases=(PurchaseRow(2, "upgrade", "530-21340", "vpn-10M", 1_500_000, 14 * 86400),),
        waves=(
            WaveRow(1, ("21334",), (), 0.0, 0.0),
            WaveRow(2, ("21340",), ("upgrade:530-21340:vpn-10M",), 1_500_000, 14 * 86400),
        ),
        plan_cost=1_500_000,
        plan_lead_time_s=14 * 86400,
        names={s.code: s.name for s in sites},
    )


class _Cells(HTMLParser):
    """Collects (data-key or data-profile, data-v) from summary and site cells."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[dict[str, str | None]] = []
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "data-v" in a:
            self.values.append(a)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if a.get(key):
                self.external.append(f"{tag} {key}={a[key]}")


def _write(tmp_path: Path, lang: str) -> tuple[str, Path]:
    write_report(_data(), tmp_path, lang)
    return (tmp_path / "report.html").read_text(encoding="utf-8"), tmp_path


def test_html_uses_no_external_resource_and_runs_no_script(tmp_path: Path) -> None:
    html, _ = _write(tmp_path, "vi")
    cells = _Cells()
    cells.feed(html)
    assert cells.external == []
    assert cells.scripts == 0
    assert "url(" not in html and "@import" not in html


def test_site_names_are_escaped_and_keep_their_diacritics(tmp_path: Path) -> None:
    html, _ = _write(tmp_path, "vi")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Sơn Dung" in html and "Quảng Ngãi" in html


def test_vietnamese_report_formats_numbers_dates_and_money_the_vietnamese_way(
    tmp_path: Path,
) -> None:
    html, _ = _write(tmp_path, "vi")
    assert "Tóm tắt" in html and "Summary" not in html
    assert "50,0%" in html  # 1 of 2 communes ready
    assert "1.500.000\xa0₫" in html
    assert "41,2 ms" in html and "4,32 Mb/s" in html
    assert "08:00:00 30 thg 11, 2026" in html  # 01:00 UTC is 08:00 in Vietnam


def test_english_report_formats_numbers_the_english_way(tmp_path: Path) -> None:
    html, _ = _write(tmp_path, "en")
    assert "Summary" in html and "Tóm tắt" not in html
    assert "50.0%" in html and "41.2 ms" in html and "₫1,500,000" in html


def test_csv_json_and_html_carry_the_same_numbers(tmp_path: Path) -> None:
    html, out = _write(tmp_path, "vi")
    cells = _Cells()
    cells.feed(html)
    summary_html = {
        c["data-key"]: float(c["data-v"] or 0) for c in cells.values if c.get("data-key")
    }
    with (out / "summary.csv").open(encoding="utf-8") as fh:
        (row,) = list(csv.DictReader(fh))
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for key in (
        "ready",
        "degraded",
        "not_ready",
        "unknown",
        "communes_ready",
        "communes_ready_ratio",
    ):
        assert float(row[key]) == summary_html[key] == doc["summary"][0][key]
    assert summary_html["plan_cost"] == doc["plan_cost"] == 1_500_000
    site_html = {c["data-profile"]: c["data-v"] for c in cells.values if c.get("data-profile")}
    with (out / "sites.csv").open(encoding="utf-8") as fh:
        sites = {r["code"]: r for r in csv.DictReader(fh)}
    assert sites["21340"]["verdict_hd"] == "not_ready"
    assert sites["21340"]["rtt_p95_s"] == "0.18"
    assert [s["verdicts"]["hd"] for s in doc["sites"]] == [
        sites[c]["verdict_hd"] for c in ("51", "530", "21340", "21334")
    ]
    assert set(site_html.values()) <= {v.value for v in Verdict}


def test_report_prints_on_a4_with_page_breaks(tmp_path: Path) -> None:
    html, _ = _write(tmp_path, "en")
    assert re.search(r"@page\s*\{\s*size:\s*A4", html)
    assert 'class="page"' in html and "break-before: page" in html


def test_map_draws_every_site_with_coordinates_coloured_by_verdict() -> None:
    html = render_html(_data(), "en")
    svg = html[html.index('<svg xmlns="http://www.w3.org/2000/svg" class="map"') :]
    svg = svg[: svg.index("</svg>")]
    dots = re.findall(r'<circle cx="[\d.]+" cy="[\d.]+" r="[\d.]+" class="v-(\w+)"><title>', svg)
    assert sorted(dots) == ["degraded", "not_ready", "ready", "ready"]


def test_every_text_of_the_report_has_a_vietnamese_translation() -> None:
    used = set(re.findall(r'_\("([^"]+)"', TEMPLATE.read_text(encoding="utf-8")))
    used |= set(re.findall(r'_\("([^"]+)"\)', RENDER.read_text(encoding="utf-8")))
    vi = translations("vi")
    missing = sorted(m for m in used if vi.gettext(m) == m and m != "RTT p95")
    assert len(used) > 60
    assert missing == []


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        render_html(_data(), "fr")
