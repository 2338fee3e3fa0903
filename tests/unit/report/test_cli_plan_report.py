"""`vcmon plan` and `vcmon report` end to end through `vcmon.cli.main` (exit codes, files)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from vcmon.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = str(ROOT / "inventory" / "example.yaml")


def test_plan_json_lists_purchases_waves_and_what_if(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "plan",
            EXAMPLE,
            "--topology",
            "sfu",
            "--format",
            "json",
            "--what-if",
            "name=cascade,topology=cascade",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["plan"]["monthly_cost"] == 5_000_000
    assert [p["target"] for p in doc["plan"]["purchases"]] == ["530-21340", "dc-530"]
    assert doc["plan"]["waves"][1]["sites"] == ["21334", "21340", "530"]
    (diff,) = doc["what_if"]["differences"]
    assert diff["ready_gained"] == ["21334", "21340", "530"] and diff["cost_delta"] == -5_000_000


def test_plan_under_budget_says_what_fits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", EXAMPLE, "--topology", "sfu", "--budget", "4000000"]) == 0
    out = capsys.readouterr().out
    assert "budget 4,000,000/month" in out
    assert "monthly cost: 3,500,000" in out  # the uplink alone readies Sơn Tây and Sơn Mùa
    assert "Sơn Mùa" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "district:999"], "vcmon: --target: district:999: no district '999'"),
        (["--profile", "uhd"], "vcmon: --profile: uhd: unknown profile (known: fhd, hd, sd)"),
        (["--what-if", "link:x=1M"], "vcmon: --what-if: link:x: no link 'x'"),
    ],
)
def test_plan_usage_errors_exit_2_with_one_clear_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["plan", EXAMPLE, *argv]) == 2
    assert capsys.readouterr().err.strip() == message


def test_report_writes_html_json_and_csv_with_the_same_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", EXAMPLE, "--lang", "en", "--out", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    assert {Path(p).name for p in written} >= {"report.html", "report.json", "summary.csv"}
    doc = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    with (tmp_path / "summary.csv").open(encoding="utf-8") as fh:
        rows = {r["profile"]: r for r in csv.DictReader(fh)}
    for s in doc["summary"]:
        assert int(rows[s["profile"]]["ready"]) == s["ready"]
    assert "Sơn Dung" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_report_with_unreachable_prometheus_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", EXAMPLE, "--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.startswith(
        "vcmon: --prometheus: http://127.0.0.1:9: cannot query"
    )
