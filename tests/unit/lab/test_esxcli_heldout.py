"""parse_output on real esxcli / vim-cmd output the parsers were not written from (tests/fixtures/esxcli-heldout/,
SOURCES.md there), and on mangled variants derived from every real sample the way publishers alter output."""

# ruff: noqa: E501  (verbatim output lines)
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from faultlab.lab.errors import VimFaultError
from faultlab.lab.esxi import (
    parse_advanced,
    parse_devices,
    parse_filesystem_list,
    parse_getallvms,
    parse_nfs_list,
    parse_power_state,
    read_output,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HELDOUT = FIXTURES / "esxcli-heldout"
COMMANDS = {
    "filesystem-list": "esxcli storage filesystem list",
    "device-list": "esxcli storage core device list",
    "path-list": "esxcli storage core path list",
    "nfs-list": "esxcli storage nfs list",
    "nfs41-list": "esxcli storage nfs41 list",
    "advanced": "esxcli system settings advanced list",
    "getallvms": "vim-cmd vmsvc/getallvms",
    "power-getstate": "vim-cmd vmsvc/power.getstate 1",
}


def heldout(name: str) -> str:
    return (HELDOUT / name).read_text()


def test_every_heldout_sample_is_listed_in_sources_and_tested_here() -> None:
    names = {p.name for p in HELDOUT.glob("*.txt")}
    sources, here = (HELDOUT / "SOURCES.md").read_text(), Path(__file__).read_text()
    assert names and all(f"| {n} |" in sources and f'"{n}"' in here for n in names)


# -- what each held-out sample must read as ---------------------------------------------------------------------


def test_a_9x_filesystem_list_with_osdata_and_bootbanks() -> None:
    fs = parse_filesystem_list(heldout("filesystem-list.h1.txt"))
    assert [(f.volume_name, f.type, f.mounted) for f in fs] == [
        ("OSDATA-6935c9aa-fa46047b-2596-005056b36949", "VMFSOS", True),
        ("BOOTBANK1", "vfat", True),
        ("BOOTBANK2", "vfat", True),
    ]
    assert read_output(COMMANDS["filesystem-list"], heldout("filesystem-list.h1.txt")).odd == []


@pytest.mark.parametrize(
    ("name", "ids", "status"),
    [
        ("device-list.h1.txt", ["mpx.vmhba0:C0:T0:L0"], ["on"]),
        (
            "device-list.h2.txt",
            ["mpx.vmhba33:C0:T0:L0", "t10.ATA_____ST1000DM0032D1SB102__________________________________Z9A3SHJH"],
            ["on", "on"],
        ),
        ("device-list.h3.txt", ["uuid.2b6522e97f86428c91e193efa93c864f"], ["degraded"]),
        ("device-list.h5.txt", ["t10.NVMe____SSDPR2DPX7002D02T2D80______________________2710003002275A3A"], ["on"]),
        ("device-list.h6.txt", ["naa.600144f08"], ["degraded"]),
    ],
)
def test_device_lists_from_55_to_90(name: str, ids: list[str], status: list[str]) -> None:
    devices = parse_devices(heldout(name))
    assert [d.id for d in devices] == ids
    assert [d.fields["Status"] for d in devices] == status
    assert read_output(COMMANDS["device-list"], heldout(name)).odd == []


def test_padded_values_are_stripped_and_empty_values_kept() -> None:
    (cdrom, disk) = read_output(COMMANDS["device-list"], heldout("device-list.h2.txt")).rows
    assert (cdrom["Device Type"], cdrom["Vendor"], cdrom["Model"], cdrom["Attached Filters"]) == (
        "CD-ROM",
        "PLDS",
        "DVD-RW DU8A6SH",
        "",
    )
    assert disk["Is Boot Device"] == "true" and disk["Vendor"] == "ATA"


def test_a_wrapped_prompt_line_and_a_cut_block_are_reported_not_made_rows() -> None:
    """`8b69` (the end of the wrapped command line) is no device; the grep-cut last block is kept and flagged."""
    parsed = read_output(COMMANDS["device-list"], heldout("device-list.h4-truncated.txt"))
    assert [r["id"] for r in parsed.rows] == ["naa.600605b008afce501b05352b89f78b69", "mpx.vmhba0:C0:T24:L0"]
    assert parsed.rows[1]["Device Type"] == "Enclosure Svc Dev"
    assert parsed.odd[0] == "line 1: 8b69 (a block id with no fields after it)"
    assert "'mpx.vmhba0:C0:T24:L0': ends before Multipath Plugin" in parsed.odd[1] and "cut short" in parsed.odd[1]


def test_an_nfs_datastore_mounted_but_not_accessible() -> None:
    (m,) = parse_nfs_list(heldout("nfs-list.h1.txt"))
    assert (m.volume_name, m.host, m.share, m.accessible, m.mounted, m.read_only) == (
        "ISOs",
        "192.168.0.100",
        "/srv/nfs/ISOs",
        False,
        True,
        False,
    )


def test_getallvms_with_a_bracketed_vm_name() -> None:
    vms = parse_getallvms(heldout("getallvms.h1-fixture.txt"))
    assert [(v.vmid, v.name, v.file, v.guest_os, v.version) for v in vms] == [
        (18, "win-214 [maintenance]", "[datastore1] win-214/win-214.vmx", "windows9_64Guest", "vmx-19"),
        (22, "win-205", "[datastore1] win-205/win-205.vmx", "windows9_64Guest", "vmx-19"),
        (30, "test-server-01", "[ssd_store] test-server/test.vmx", "ubuntu64Guest", "vmx-17"),
    ]


def test_a_markdown_mangled_field_is_reported_and_the_setting_is_not_split_in_two() -> None:
    """The listing has no id lines, so `**Int Value: 0**` cannot start a new block: it is an odd line, and the
    typed reader refuses an integer option without its Int Value instead of returning the empty String Value."""
    parsed = read_output(COMMANDS["advanced"], heldout("advanced.h1-mangled.txt"))
    assert len(parsed.rows) == 1 and parsed.rows[0]["Path"] == "/VMFS3/EnableBlockDelete"
    assert parsed.rows[0]["Default Int Value"] == "0" and "Int Value" not in parsed.rows[0]
    assert parsed.odd == ["line 5: **Int Value: 0** (not 'Key: Value' in a list without id lines)"]
    with pytest.raises(ValueError, match=r"EnableBlockDelete.*without an Int Value"):
        parse_advanced(heldout("advanced.h1-mangled.txt"))


def test_a_fault_whose_msg_holds_nested_quotes_after_other_output() -> None:
    with pytest.raises(VimFaultError) as caught:
        read_output("vim-cmd vmsvc/power.getstate 5", heldout("vimcmd-fault.h1.txt"))
    assert (caught.value.fault, caught.value.msg) == (
        "vim.fault.NotFound",
        'Unable to find a VM corresponding to "(vim.fault.AlreadyExists)"',
    )


def test_power_getstate_60() -> None:
    assert parse_power_state(heldout("power-getstate.h1.txt")) == "poweredOff"


# -- mangled variants, derived from every real sample ------------------------------------------------------------


def _samples() -> list[tuple[str, str]]:
    out = []
    for folder in (FIXTURES / "esxcli", HELDOUT):
        for p in sorted(folder.glob("*.txt")):
            kind = p.name.split(".")[0]
            if kind in COMMANDS and "csv" not in p.name:
                out.append((f"{folder.name}/{p.name}", COMMANDS[kind]))
    return out


def _wrap(text: str, width: int = 80) -> str:
    return "\n".join(line[i : i + width] for line in text.split("\n") for i in range(0, max(len(line), 1), width))


def _read(command: str, text: str) -> tuple[list[dict[str, str]], list[str]] | None:
    try:
        parsed = read_output(command, text)
    except VimFaultError:
        return None
    return parsed.rows, parsed.odd


MANGLINGS: dict[str, Callable[[str], str]] = {
    "crlf": lambda t: t.replace("\n", "\r\n"),
    "no final newline": lambda t: t.rstrip("\n"),
    "tab indent": lambda t: t.replace("   ", "\t"),
    "wrapped at 80": _wrap,
}


@pytest.mark.parametrize("mangling", sorted(MANGLINGS))
@pytest.mark.parametrize(("name", "command"), _samples())
def test_a_mangled_sample_reads_the_same_or_says_what_it_could_not_read(name: str, command: str, mangling: str) -> None:
    """Line endings and a missing final newline change nothing; tabs and wrapped lines either read the same or
    leave a reported odd line: never a silently different row, never a crash."""
    text = (FIXTURES / name).read_text()
    base, mangled = _read(command, text), _read(command, MANGLINGS[mangling](text))
    if base is None or mangled is None:
        assert base is None and mangled is None, "a fault block is a fault in every variant"
        return
    if mangling in ("crlf", "no final newline"):
        assert mangled == base
    else:
        assert mangled[0] == base[0] or len(mangled[1]) > len(base[1]), f"rows changed silently: {mangled[0]}"


@pytest.mark.parametrize(("name", "command"), _samples())
def test_a_sample_cut_in_its_last_line_never_crashes(name: str, command: str) -> None:
    text = (FIXTURES / name).read_text().rstrip("\n")
    head, _, last = text.rpartition("\n")
    assert _read(command, f"{head}\n{last[: len(last) // 2]}") is not None or "fault" in name


def test_a_device_list_wrapped_by_a_terminal_is_joined_back() -> None:
    """A long `Display Name` / `Devfs Path` wrapped at 80 columns leaves its end on a line of its own: it is
    joined to the field it belongs to (esxcli's fixed field order shows it is no new device) and reported."""
    text = heldout("device-list.h2.txt")
    parsed = read_output(COMMANDS["device-list"], _wrap(text))
    assert parsed.rows == read_output(COMMANDS["device-list"], text).rows
    assert any("the end of a wrapped line: joined to 'Display Name'" in o for o in parsed.odd)


def test_a_getallvms_row_cut_short_is_reported_not_glued_to_the_annotation_above() -> None:
    text = heldout("getallvms.h1-fixture.txt").rstrip("\n")
    parsed = read_output(COMMANDS["getallvms"], text[: text.rindex("ubuntu64Guest")])
    assert [r["Vmid"] for r in parsed.rows] == ["18", "22"] and parsed.rows[1]["Annotation"] == ""
    assert parsed.odd == [
        "line 5: 30     test-server-01                              [ssd_store] test-server/test.vmx (a getallvms row missing its Guest OS / Version)"
    ]


def test_a_table_row_cut_without_its_newline_is_kept_and_flagged() -> None:
    text = heldout("nfs-list.h1.txt").rstrip("\n")
    parsed = read_output(COMMANDS["nfs-list"], text[: text.rindex("false  false")])
    assert parsed.rows[0]["Volume Name"] == "ISOs" and parsed.rows[0]["Hardware Acceleration"] == ""
    assert parsed.odd and "cut short: no newline and no cell under 'Hardware Acceleration'" in parsed.odd[0]


def test_a_table_with_tabs_is_flagged() -> None:
    parsed = read_output(COMMANDS["filesystem-list"], heldout("filesystem-list.h1.txt").replace("  true", "\ttrue"))
    assert len(parsed.odd) == 3 and all("a tab in a table row" in o for o in parsed.odd)


def test_a_power_state_cut_short_is_flagged() -> None:
    parsed = read_output(COMMANDS["power-getstate"], "Retrieved runtime info\nPowe")
    assert parsed.rows == [{"state": "Powe"}] and parsed.odd == ["line 2: Powe (not a power state vim-cmd prints)"]
