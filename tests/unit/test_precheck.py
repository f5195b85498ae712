"""Issue 11 item 9: a scenario that does not fit its inventory is refused before the first connection (exit 2,
file/line/key), and a run that fits does connect: proven against a real TCP listener standing in for the lab."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultlab.harness.precheck import check_before_contact
from faultlab.harness.runner import RunOptions, run_scenario
from faultlab.harness.scenario import parse_scenario
from faultlab.lab.errors import ConfigError
from faultlab.lab.inventory import parse_inventory

FAULTLAB = Path(sys.executable).parent / "faultlab"
SCENARIO = """\
name: nfs-apd
story: a test
target: {host: esx01, datastore: ds-nfs01, vm: win01}
fault: {kind: KIND, on: nfs01}
hold: "{Misc.APDTimeout}s - 5s"
expect:
  in_order: [apd.start]
"""
INVENTORY = """\
version: 1
ssh: {user: root, private_key: key, known_hosts: kh, port: PORT, timeout: 2s}
hosts: [{name: esx01, address: 127.0.0.1}]
storage_targets:
  - name: nfs01
    kind: nfs
    address: 127.0.0.1
    ALLOW
    ports: {nfs: 2049}
    service: {start: "s start", stop: "s stop"}
datastores: [{name: ds-nfs01, type: nfs, target: nfs01, hosts: [esx01]}]
vms:
  - {name: win01, host: esx01, datastore: ds-nfs01}
"""


def inventory_text(port: int = 22, allow: bool = True) -> str:
    return INVENTORY.replace("PORT", str(port)).replace("ALLOW", "allow_faults: true" if allow else "# no consent")


def scenario_text(kind: str = "network-blackhole") -> str:
    return SCENARIO.replace("KIND", kind)


def refusal(inv_text: str, sc_text: str) -> ConfigError:
    inv = parse_inventory(inv_text, "inv.yaml", check_files=False)
    with pytest.raises(ConfigError) as info:
        check_before_contact(parse_scenario(sc_text, "sc.yaml"), inv)
    return info.value


def test_a_fitting_scenario_passes() -> None:
    inv = parse_inventory(inventory_text(), "inv.yaml", check_files=False)
    check_before_contact(parse_scenario(scenario_text(), "sc.yaml"), inv)


def test_a_target_without_consent_names_the_inventory_line() -> None:
    err = refusal(inventory_text(allow=False), scenario_text())
    assert (err.file, err.line, err.key) == ("inv.yaml", 5, "storage_targets[0].allow_faults")
    assert "needs an explicit `allow_faults: true`" in str(err)


def test_a_bystander_vm_and_a_fault_the_target_cannot_do_name_the_scenario_line() -> None:
    bystander = inventory_text() + "  - {name: win02, host: esx01, datastore: ds-nfs01}\n"
    err = refusal(bystander, scenario_text())
    assert (err.file, err.line, err.key) == ("sc.yaml", 4, "fault") and "win02" in str(err)
    err = refusal(inventory_text(), scenario_text("process-freeze"))
    # the kind's own check names its key (fault.kind) and the commands the target lacks
    assert err.line == 4 and err.key.startswith("fault") and "service.freeze/thaw" in str(err)


def test_an_unset_credential_is_found_before_logging_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FL_TEST_NO_SUCH_PW", raising=False)
    text = inventory_text().replace("private_key: key", 'password: "${FL_TEST_NO_SUCH_PW}"')
    err = refusal(text, scenario_text())
    assert (err.line, err.key) == (2, "ssh.password") and "FL_TEST_NO_SUCH_PW is not set" in str(err)


def test_every_problem_is_listed_at_once() -> None:
    text = inventory_text(allow=False) + "  - {name: win02, host: esx01, datastore: ds-nfs01}\n"
    err = refusal(text, scenario_text())
    assert [i.key for i in err.issues] == ["storage_targets[0].allow_faults"]  # consent first: nothing planned


class Listener:
    """A TCP listener standing in for the lab's SSH: counts the connections it accepts (and closes them)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed by close(): the loop ends
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=5)


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()


def _cli(tmp_path: Path, inv: str, sc: str) -> subprocess.CompletedProcess[str]:
    if not (tmp_path / "key").exists():  # a real key: the run must get as far as connecting
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")], check=True)
    (tmp_path / "kh").write_text("")
    (tmp_path / "inv.yaml").write_text(inv)
    (tmp_path / "sc.yaml").write_text(sc)
    return subprocess.run(
        [str(FAULTLAB), "run", str(tmp_path / "sc.yaml"), "--inventory", str(tmp_path / "inv.yaml"),
         "--artifacts", str(tmp_path / "artifacts"), "--state-dir", str(tmp_path / "ledger")],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_cli_refuses_before_any_connection(tmp_path: Path, listener: Listener) -> None:
    res = _cli(tmp_path, inventory_text(listener.port, allow=False), scenario_text())
    assert res.returncode == 2, res.stderr
    assert "inv.yaml, line 5, key storage_targets[0].allow_faults" in res.stderr and "Traceback" not in res.stderr
    assert listener.accepted == 0
    assert not (tmp_path / "artifacts").exists()


def test_cli_with_consent_does_reach_the_lab(tmp_path: Path, listener: Listener) -> None:
    """The control of the test above: the same run with consent connects (and fails: the listener is no sshd)."""
    res = _cli(tmp_path, inventory_text(listener.port), scenario_text())
    assert res.returncode == 3, res.stderr
    assert listener.accepted >= 1
    assert "Traceback" not in res.stderr


def test_runner_refuses_before_making_its_pool(tmp_path: Path) -> None:
    made: list[object] = []
    inv = parse_inventory(inventory_text(allow=False), "inv.yaml", check_files=False)
    opts = RunOptions(artifacts=tmp_path, state_dir=tmp_path / "ledger", pool_factory=made.append)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="allow_faults"):
        run_scenario(parse_scenario(scenario_text(), "sc.yaml"), inv, scenario_text="", options=opts)
    assert made == [] and list(tmp_path.iterdir()) == []
