"""The scan's fast paths change nothing but the time: the cached Hyperscan database (rebuilt when missing,
corrupt or stale), the SIMD newline count and ASCII check (same answers as bytes' methods), exact line numbers
across block edges in plain and .gz files, and the decompressed size that orders the parallel scan."""

from __future__ import annotations

import gzip
import io
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultlab.assertions import scan
from faultlab.assertions.lazyre import LazyPattern
from faultlab.assertions.model import LogKind
from faultlab.assertions.scan import BLOCK_SIZE, Prefilter, ScanStats, cache_file, candidate_lines
from faultlab.assertions.sources import discover
from faultlab.assertions.triage import scan_one, scan_sources

pytestmark = pytest.mark.skipif(not scan.HAVE_HYPERSCAN, reason="the cache is Hyperscan's")

DATA = b"noise 1\nAPD here\nnoise 2\nWinBSOD: Synthetic MSR\nnoise 3\n"
WANT_AB = [(2, b"APD here"), (4, b"WinBSOD: Synthetic MSR")]


class CountingCompiles:
    """Counts Hyperscan compilations (the real ones: the database is built by Hyperscan as usual)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = scan.hyperscan.Database

        def counted(*args: object, **kwargs: object) -> object:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(scan.hyperscan, "Database", counted)


def _lines(pf: Prefilter) -> list[tuple[int, bytes]]:
    return list(candidate_lines(io.BytesIO(DATA), pf))


@pytest.fixture
def compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CountingCompiles:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return CountingCompiles(monkeypatch)


def test_the_database_is_compiled_once_then_loaded(compiles: CountingCompiles) -> None:
    patterns = ["APD", "WinBSOD"]
    assert _lines(Prefilter(patterns)) == WANT_AB and compiles.count == 1
    assert cache_file(patterns).read_bytes().startswith(scan.CACHE_MAGIC)
    assert _lines(Prefilter(patterns)) == WANT_AB and compiles.count == 1  # loaded: no second compile


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],  # cut short (a full disk, a killed writer of an old version)
        lambda b: b[:-100] + bytes(x ^ 0xFF for x in b[-100:]),  # bytes flipped in the payload
        lambda b: b"",  # empty
        lambda b: b[len(scan.CACHE_MAGIC) + 64 :],  # a bare Hyperscan database (the format before the header)
        lambda b: b"garbage" * 100,
    ],
    ids=["cut", "flipped", "empty", "headerless", "garbage"],
)
def test_a_damaged_cache_file_is_rebuilt(compiles: CountingCompiles, damage: object) -> None:
    patterns = ["APD", "WinBSOD"]
    Prefilter(patterns)
    path = cache_file(patterns)
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    assert _lines(Prefilter(patterns)) == WANT_AB and compiles.count == 2
    assert _lines(Prefilter(patterns)) == WANT_AB and compiles.count == 2  # the rebuilt file is good again


def test_a_stale_cache_file_of_other_patterns_is_not_trusted(compiles: CountingCompiles) -> None:
    """A whole, valid database for other patterns at this key (another version's file copied or renamed)
    would find the wrong lines: it is refused and the right one compiled."""
    Prefilter(["noise"])
    cache_file(["APD", "WinBSOD"]).write_bytes(cache_file(["noise"]).read_bytes())
    assert _lines(Prefilter(["APD", "WinBSOD"])) == WANT_AB and compiles.count == 2


def test_a_valid_header_over_a_payload_hyperscan_refuses_is_rebuilt(compiles: CountingCompiles) -> None:
    """Payload hashes right but Hyperscan cannot load it (another Hyperscan build, another CPU's features)."""
    patterns = ["APD", "WinBSOD"]
    payload = b"\x00" * 256
    digest = scan._pattern_digest(patterns)
    path = cache_file(patterns)
    path.parent.mkdir(parents=True)
    path.write_bytes(scan.CACHE_MAGIC + digest + scan.hashlib.sha256(payload).digest() + payload)
    assert _lines(Prefilter(patterns)) == WANT_AB and compiles.count == 1


def test_an_unwritable_cache_folder_still_scans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    compiles = CountingCompiles(monkeypatch)
    assert _lines(Prefilter(["APD", "WinBSOD"])) == WANT_AB
    assert _lines(Prefilter(["APD", "WinBSOD"])) == WANT_AB and compiles.count == 2  # compiled each time


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 300), st.integers(0, 300), st.booleans())
def test_simd_count_and_ascii_check_agree_with_bytes_methods(data: bytes, a: int, b: int, simd: bool) -> None:
    """stringzilla's answers, and those of the fallback without it, are the plain ones on any range."""
    start, end = min(a, b, len(data)), min(max(a, b), len(data))
    piece = data[start:end]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scan, "HAVE_STRINGZILLA", simd and scan.HAVE_STRINGZILLA)
        assert scan.count_newlines(data, start, end) == piece.count(b"\n")
        assert scan._plain_ascii(data, start, end) == (piece.isascii() and b"\x00" not in piece)


def _log_with_signals(n_lines: int, seed: int) -> tuple[bytes, list[int]]:
    """Noise lines of random lengths with catalog lines at random places, one of them straddling the first
    block edge; returns the bytes and the 1-based numbers of the catalog lines."""
    rng = random.Random(seed)
    apd = (
        "2018-07-06T21:02:11.204Z cpu0:65641)ScsiDevice: 4993: Device state of naa.60014055c425cd10a874374b415629b3 "
        "set to APD_START; token num:1"
    )
    lines: list[str] = []
    want: list[int] = []
    size = 0
    for i in range(n_lines):
        straddles = size < BLOCK_SIZE - 50 and size + 400 > BLOCK_SIZE and not want
        if straddles or rng.random() < 0.002:
            lines.append(apd)
            want.append(i + 1)
        else:
            noise = "2018-07-06T21:02:11.204Z cpu1:65642)Jumpstart plugin activated."
            lines.append(noise + "x" * rng.randrange(0, 300))
        size += len(lines[-1]) + 1
    return ("\n".join(lines) + "\n").encode(), want


@pytest.mark.parametrize("simd", [True, False], ids=["stringzilla", "bytes-methods"])
def test_line_numbers_stay_exact_across_block_edges_plain_and_gz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, simd: bool
) -> None:
    """Real files over several blocks (a catalog line across the first block edge), plain and gzip (read by
    ISA-L in its thread): every event has the line number of a plain count, and every line is counted."""
    monkeypatch.setattr(scan, "HAVE_STRINGZILLA", simd and scan.HAVE_STRINGZILLA)
    data, want = _log_with_signals(12_000, seed=5)
    assert len(data) > 4 * BLOCK_SIZE and len(want) > 5
    (tmp_path / "vmkernel.log").write_bytes(data)
    (tmp_path / "vmkernel.0.gz").write_bytes(gzip.compress(data, compresslevel=1))
    expected = [i + 1 for i, line in enumerate(data.split(b"\n")) if b"APD_START" in line]
    assert expected == want
    for src in discover(tmp_path):
        events, stats = scan_one(src)
        assert [e.line_no for e in events if e.name == "apd.start"] == want, src.name
        assert stats.lines == data.count(b"\n") and stats.bytes == len(data) and stats.error is None


def test_gz_content_size_comes_from_its_trailer_and_the_parallel_scan_reads_all(tmp_path: Path) -> None:
    noise = b"2018-07-06T21:02:11.204Z cpu1:65642)Jumpstart plugin activated.\n"
    big = noise * 40_000  # 2.6 MB, compresses to a few kB: smaller than the plain file on disk
    (tmp_path / "vmkernel.0.gz").write_bytes(gzip.compress(big))
    (tmp_path / "vmkernel.log").write_bytes(noise * 2_000)
    (tmp_path / "vmkernel.1.gz").write_bytes(b"\x1f\x8b\x08")  # cut to 3 bytes: no trailer, its stored size
    by_name = {s.name: s for s in discover(tmp_path)}
    assert by_name["vmkernel.0.gz"].content_size == len(big)
    assert by_name["vmkernel.log"].content_size == len(noise) * 2_000
    assert by_name["vmkernel.1.gz"].content_size == 3
    _events, stats = scan_sources(list(by_name.values()), workers=2)
    assert {s.name: s.lines for s in stats} == {"vmkernel.0.gz": 40_000, "vmkernel.log": 2_000, "vmkernel.1.gz": 0}


def test_candidate_numbers_with_counting_from_the_last_candidate() -> None:
    """Several candidates in one block, the first on line 1, the last on the block's last line."""
    data = b"APD 1\nx\nx\nAPD 4\nAPD 5\nx\nAPD 7\n"
    stats = ScanStats(name="x", host="h", kind=LogKind.VMKERNEL)
    got = list(candidate_lines(io.BytesIO(data), Prefilter(["APD"]), stats, block_size=1 << 16))
    assert got == [(1, b"APD 1"), (4, b"APD 4"), (5, b"APD 5"), (7, b"APD 7")] and stats.lines == 7


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"YYYY-MM-DDTHH:MM:SS x", b"noise YYYY", b"APD", b"a APD b", b"YYYY", b"Y", b"", b"[YYYY"]),
        max_size=50,
    ),
    st.integers(min_value=1, max_value=40),
)
def test_anchored_patterns_at_block_edges_match_only_true_line_starts(parts: list[bytes], block_size: int) -> None:
    """The scan hands Hyperscan whole reads, edges included: a read that starts mid-line must not make its
    first bytes a line start (`^YYYY`), and a line split over two reads is found once, whole."""
    patterns = [*scan.ODD_LINE_PATTERNS, "APD"]
    data = b"\n".join(parts) + b"\n"
    got = list(candidate_lines(io.BytesIO(data), Prefilter(patterns), block_size=block_size))
    union = re.compile("|".join(f"(?:{p})" for p in patterns).encode())
    expected = [(i + 1, raw) for i, raw in enumerate(data.split(b"\n")[:-1]) if union.search(raw)]
    assert got == expected


def test_catalog_and_layout_patterns_compile_on_first_use() -> None:
    """Importing the catalog and the line layouts compiles nothing; a pattern compiles when first matched,
    once, and matches exactly as re.compile's would."""
    code = (
        "import re\n"
        "from faultlab.assertions import catalog, layouts\n"
        "from faultlab.assertions.lazyre import LazyPattern\n"
        "sigs = [s for group in catalog.SIGNATURES.values() for s in group]\n"
        "assert all(isinstance(s.pattern, LazyPattern) for s in sigs)\n"
        "print(sum(s.pattern._compiled is not None for s in sigs), len(sigs))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "0" and int(out[1]) > 40
    lazy = LazyPattern(r"(?P<dev>naa\.\w+) is (?P<state>on|off)", re.I)
    assert lazy._compiled is None
    text = "Device NAA.6000 is OFF; naa.6001 is on"
    real = re.compile(lazy.pattern, re.I)
    assert [m.groupdict() for m in lazy.finditer(text)] == [m.groupdict() for m in real.finditer(text)]
    compiled = lazy.compiled
    assert lazy.search(text) is not None and lazy.compiled is compiled  # compiled once
    assert lazy.sub("X", text) == real.sub("X", text) and lazy.groupindex == dict(real.groupindex)
