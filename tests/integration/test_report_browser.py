"""The report in a real browser: Debian's headless Chromium opens it without console errors,
and its screenshot shows the summary table and the map's coloured dots."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from vcmon.inventory import load_inventory
from vcmon.report import collect, write_report
from vcmon.topology import build_graph, routes

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")

READY_RGB = (0x2E, 0x7D, 0x32)
NOT_READY_RGB = (0xC6, 0x28, 0x28)


def _chromium(page: Path, tmp_path: Path, *extra: str) -> str:
    """Run headless Chromium on a file URL; return its log (console messages included)."""
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *extra,
        page.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=True)
    return done.stdout + done.stderr


def _console(log: str) -> list[str]:
    return [line for line in log.splitlines() if "CONSOLE" in line]


def _pixels(png: Path) -> tuple[int, int, bytes]:
    """Width, height and RGB rows of an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    out, prev = bytearray(), bytearray(stride)
    for y in range(height):
        f, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        for x in range(width):
            out += line[x * channels : x * channels + 3]
    return width, height, bytes(out)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inv = load_inventory(ROOT / "inventory" / "quang-ngai.yaml")
    g = build_graph(inv)
    out = tmp_path_factory.mktemp("report")
    write_report(collect(inv, g, routes(g, inv.conference.bridge), now=1_764_460_800.0), out, "vi")
    return out / "report.html"


def test_console_check_catches_a_page_that_logs_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><script>console.error('boom')</script>", encoding="utf-8")
    assert any("boom" in line for line in _console(_chromium(bad, tmp_path, "--dump-dom")))


def test_report_opens_in_chromium_without_console_errors(report: Path, tmp_path: Path) -> None:
    log = _chromium(report, tmp_path, "--dump-dom")
    assert _console(log) == []


def test_screenshot_shows_summary_and_map_coloured_by_verdict(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    _chromium(report, tmp_path, f"--screenshot={shot}", "--window-size=1000,1400")
    width, height, rgb = _pixels(shot)
    assert (width, height) == (1000, 1400)

    def count(colour: tuple[int, int, int], top: int, bottom: int) -> int:
        want = bytes(colour)
        return sum(
            rgb[(y * width + x) * 3 : (y * width + x) * 3 + 3] == want
            for y in range(top, bottom, 2)
            for x in range(0, width, 2)
        )

    # The map sits below the summary table, in the upper two thirds of the first screen.
    assert count(READY_RGB, 250, 900) > 200
    assert count(NOT_READY_RGB, 250, 900) > 20
    # The summary table: dark header text over the light grey header row.
    header = bytes((0xEE, 0xEE, 0xEE))
    assert (
        sum(
            rgb[(y * width + x) * 3 : (y * width + x) * 3 + 3] == header
            for y in range(100, 260)
            for x in range(0, width, 4)
        )
        > 500
    )


def test_report_prints_to_a4_pages(report: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    _chromium(report, tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    data = pdf.read_bytes()
    boxes = set(re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data))
    assert [(round(float(w)), round(float(h))) for w, h in boxes] == [(595, 842)]  # A4 in pt
    # The summary, plan, districts, reasons and links sections start pages of their own.
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 5
