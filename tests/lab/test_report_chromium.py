"""The HTML report in headless Chromium, with no network: it renders, and its timeline shows the run's events."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from pathlib import Path

import pytest

from faultlab.harness.artifacts import write_artifacts
from faultlab.harness.record import RunRecord, load_record
from tests.unit.harness.test_reports import FIXTURE, STEPS, add_vsphere, failed_copy

pytestmark = [pytest.mark.lab, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium, installed by scripts/setup.sh
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
WINDOW = (1300, 1400)
FAULT_WINDOW_RGB = (255, 234, 234)  # #ffe3e3 at 0.75 opacity over white
MET_RGB = (0x2B, 0x8A, 0x3E)
MISSED_RGB = (0xC9, 0x2A, 0x2A)


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium in a network namespace of its own (only a down loopback): the page must need nothing remote."""
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} missing: run scripts/setup.sh (Debian package chromium)"
    cmd = ["unshare", "--net", "--map-root-user", CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, env={"HOME": str(tmp)})


def artifacts(tmp_path: Path, failed: bool = False) -> tuple[RunRecord, Path]:
    shutil.copytree(FIXTURE, tmp_path / "run")
    record, run_dir = load_record(tmp_path / "run")
    add_vsphere(record)
    if failed:
        record = failed_copy(record)
    out = write_artifacts(record, run_dir)
    assert out.problems == []
    return record, run_dir


def svg_of(dom: str) -> ET.Element:
    """The <svg> element of the DOM Chromium built, parsed as XML (it must be well-formed to get here)."""
    start, end = dom.index("<svg"), dom.index("</svg>") + len("</svg>")
    return ET.fromstring(dom[start:end])


def png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) with the standard library only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG flavour"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(line)
        prev = line
    pixels = [(r[i], r[i + 1], r[i + 2]) for r in rows for i in range(0, stride, channels)]
    return width, height, pixels


def near(pixel: tuple[int, int, int], rgb: tuple[int, int, int], tol: int = 6) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(pixel, rgb, strict=True))


def test_report_dom_in_chromium_holds_the_timeline_of_the_run(tmp_path: Path) -> None:
    record, run_dir = artifacts(tmp_path)
    res = chromium(tmp_path, "--dump-dom", (run_dir / "report.html").as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert "<title>faultlab nfs-apd-bsod: passed</title>" in dom
    svg = svg_of(dom)
    ns = "{http://www.w3.org/2000/svg}"
    gs = list(svg.iter(f"{ns}g"))
    marks = [g for g in gs if (g.get("class") or "").startswith("mark")]
    assert record.judgement is not None
    events = record.judgement.events
    assert {g.get("data-name") for g in marks} >= {e.name for e in events}
    assert sum(int(g.get("data-count") or 0) for g in marks if "log" in (g.get("class") or "")) == len(events)
    stepped = sorted((int(g.get("data-step") or 0), g.get("data-name")) for g in marks if g.get("data-step"))
    assert [n for _i, n in stepped] == json.loads(STEPS)
    lanes = {g.get("data-lane") for g in gs if (g.get("class") or "") == "lane"}
    assert {"esx01 vobd.log", "esx01 win01/vmware.log", "datastore ds-nfs01", "vm win01"} <= lanes
    assert any((g.get("class") or "") == "fault-window" for g in gs)


def test_report_screenshot_is_not_blank_and_shows_window_and_steps(tmp_path: Path) -> None:
    _record, run_dir = artifacts(tmp_path)
    shot = tmp_path / "shot.png"
    res = chromium(
        tmp_path,
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--screenshot={shot}",
        run_dir.joinpath("report.html").as_uri(),
    )
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == WINDOW
    colours = Counter(pixels)
    background_share = colours.most_common(1)[0][1] / len(pixels)
    assert background_share < 0.8, "the page is mostly one colour"
    window = sum(n for rgb, n in colours.items() if near(rgb, FAULT_WINDOW_RGB))
    assert window > 40_000, f"fault window shading covers only {window} px"
    green = sum(n for rgb, n in colours.items() if near(rgb, MET_RGB, 10))
    assert green > 1_500, f"met steps (green rings, badges) cover only {green} px"


def test_failed_report_shows_the_missed_step_in_red(tmp_path: Path) -> None:
    _record, run_dir = artifacts(tmp_path, failed=True)
    res = chromium(tmp_path, "--dump-dom", (run_dir / "report.html").as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    svg = svg_of(res.stdout)
    missed = [g for g in svg.iter("{http://www.w3.org/2000/svg}g") if (g.get("class") or "") == "step missed"]
    assert [g.get("data-step") for g in missed] == ["5"]
    shot = tmp_path / "shot.png"
    res = chromium(
        tmp_path,
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--screenshot={shot}",
        run_dir.joinpath("report.html").as_uri(),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    _w, _h, pixels = png_pixels(shot.read_bytes())
    red = sum(1 for p in pixels if near(p, MISSED_RGB, 12))
    assert red > 300, f"the FAILED badge and the missed step cover only {red} red px"
