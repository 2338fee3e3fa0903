"""The command line as a user meets it: exit codes, messages without tracebacks, outputs."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vcmon.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventory" / "example.yaml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vcmon", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def test_help_documents_exit_codes() -> None:
    out = run("--help")
    assert out.returncode == 0
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130"):
        assert f"  {code}" in out.stdout


def test_validate_ok_prints_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "8 sites (1 province, 3 districts, 4 communes)" in capsys.readouterr().out


def test_validate_bad_file_exits_2_with_every_problem_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        EXAMPLE.read_text(encoding="utf-8")
        .replace(
            'level: district\n    parent: "51"\n    coordinates: {lat: 14.97',
            'levl: district\n    parent: "51"\n    coordinates: {lat: 14.97',
        )
        .replace('    site: "21010"\n    to: "522"', '    site: "21010"\n    to: "5222"')
        .replace("../probes/", str(ROOT / "probes") + "/"),
        encoding="utf-8",
    )
    out = run("validate", str(bad))
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert any("sites.530.levl: unknown key 'levl' (did you mean 'level'?)" in ln for ln in lines)
    assert any("links.522-21010.to: unknown site '5222'" in ln for ln in lines), lines
    assert all(ln.startswith("vcmon: ") for ln in lines)


def test_missing_file_is_input_error_not_traceback(tmp_path: Path) -> None:
    out = run("validate", str(tmp_path / "nope.yaml"))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "nope.yaml" in out.stderr


def test_unknown_profile_is_usage_error() -> None:
    out = run("analyze", str(EXAMPLE), "--profile", "uhd")
    assert out.returncode == 2
    assert "unknown profile 'uhd'" in out.stderr


def test_analyze_json_loads_follow_from_the_inventory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(EXAMPLE), "--format", "json", "--profile", "hd"]) == 0
    doc = json.loads(capsys.readouterr().out)
    links = {lk["link"]: lk for lk in doc["links"]}
    hd = 1.2e6 * 1.2
    # dc-530 carries Sơn Tây itself (1 room) and its two communes: 3 streams each way
    assert links["dc-530"]["up_load_bps"] == pytest.approx(3 * hd)
    assert links["dc-530"]["down_utilisation_ratio"] == pytest.approx(3 * hd / 10e6)
    # dc-522 carries Quảng Ngãi (2 rooms) and its two communes: 4 streams
    assert links["dc-522"]["up_load_bps"] == pytest.approx(4 * hd)
    # the 4G access of Sơn Mùa carries one stream up on 1.5 Mb/s
    assert links["530-21334"]["up_utilisation_ratio"] == pytest.approx(hd / 1.5e6)
    sites = {s["code"]: s for s in doc["sites"]}
    assert sites["21340"]["profiles"]["hd"]["verdict"] == "ready"
    assert doc["summary"]["hd"]["ready"] + doc["summary"]["hd"]["degraded"] <= 8
    spofs = {(s["kind"], s["id"]): s["cut_off"] for s in doc["spofs"]}
    # Sơn Mùa has a 4G backup: the Sơn Tây hub cuts off only Sơn Dung
    assert spofs[("site", "530")] == ["21340"]


def test_analyze_sites_selector_limits_the_conference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(EXAMPLE), "--format", "json", "--sites", "district:530"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["joining_sites"] == 3
    links = {lk["link"]: lk for lk in doc["links"]}
    assert links["dc-522"]["up_load_bps"] == 0


def test_analyze_csv_has_one_row_per_site(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(EXAMPLE), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 8
    by_code = {r["code"]: r for r in rows}
    assert by_code["21334"]["name"] == "Sơn Mùa"
    # fhd: 1.5 Mb/s up fits the 1.5 Mb/s stream but not its 20% overhead -> degraded
    assert by_code["21334"]["fhd_verdict"] == "degraded"
    assert "530-21334" in by_code["21334"]["fhd_reasons"]
    assert by_code["21334"]["hd_verdict"] == "ready"
    assert by_code["21334"]["best_profile"] == "hd"


def test_bad_sites_selector_names_it() -> None:
    out = run("analyze", str(EXAMPLE), "--sites", "district:21010")
    assert out.returncode == 2
    assert "'21010' is not a district code" in out.stderr


def test_analyze_table_lists_multi_site_spofs_and_counts_one_site_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from vcmon import topology
    from vcmon.inventory import load_inventory

    sample = ROOT / "inventory" / "quang-ngai.yaml"
    assert main(["analyze", str(sample)]) == 0
    table = capsys.readouterr().out.split("Single points of failure (sites cut off)\n")[1]
    inv = load_inventory(sample)
    spofs = topology.spofs(topology.build_graph(inv), inv.conference.bridge)
    listed = [line.split()[:3] for line in table.splitlines() if not line.startswith("  ...")]
    wide = [s for s in spofs if len(s.cut_off) > 1]
    assert listed == [[s.kind, s.id, str(len(s.cut_off))] for s in wide]
    assert f"... {len(spofs) - len(wide)} more that each cut off one site" in table
