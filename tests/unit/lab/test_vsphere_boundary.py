"""lab/vsphere.py without a server: fault translation, TLS contexts, value and event conversion, collector hygiene."""

from __future__ import annotations

import hashlib
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from faultlab.lab import vsphere
from faultlab.lab.credentials import SecretRef
from faultlab.lab.errors import AuthenticationError, HostKeyError, LabError, UnreachableError
from faultlab.lab.inventory import ApiEndpoint, Tls
from faultlab.lab.vsphere import VsphereSession, ssl_context, thumbprint_of, vim, vmodl

HOST, USER = "vc01:443", "administrator@vsphere.local"


def _raise_in_boundary(exc: BaseException) -> None:
    with vsphere._boundary("connect", HOST, USER):
        raise exc


@pytest.mark.parametrize(
    ("exc", "expected", "text"),
    [
        (vim.fault.InvalidLogin(msg="Cannot complete login"), AuthenticationError, "login refused"),
        (vim.fault.NoPermission(msg="denied"), AuthenticationError, "permission denied"),
        (ssl.SSLCertVerificationError("self-signed certificate"), HostKeyError, "TLS certificate not trusted"),
        (ConnectionRefusedError(111, "Connection refused"), UnreachableError, "Connection refused"),
        (TimeoutError(), UnreachableError, "timed out"),
        (ssl.SSLError("wrong version number"), UnreachableError, "TLS failure"),
        (vmodl.fault.ManagedObjectNotFound(msg="gone"), LabError, "vSphere fault ManagedObjectNotFound: gone"),
    ],
)
def test_faults_become_lab_errors_naming_user_and_host(exc: BaseException, expected: type[LabError], text: str) -> None:
    with pytest.raises(expected) as info:
        _raise_in_boundary(exc)
    assert type(info.value) is expected
    assert str(info.value).startswith(f"{USER}@{HOST}: connect: ")
    assert text in str(info.value)
    assert info.value.host == HOST and info.value.user == USER
    assert info.value.__cause__ is exc


def test_boundary_keeps_lab_errors_and_programming_errors() -> None:
    original = UnreachableError("already translated", host="x")
    with pytest.raises(UnreachableError) as info:
        _raise_in_boundary(original)
    assert info.value is original
    with pytest.raises(KeyError):  # a bug in faultlab is not disguised as a lab problem
        _raise_in_boundary(KeyError("oops"))


def test_thumbprint_of_follows_the_pin_length() -> None:
    der = b"certificate bytes"
    sha1 = hashlib.sha1(der).hexdigest().upper()
    sha256 = hashlib.sha256(der).hexdigest().upper()
    assert thumbprint_of(der, "AA:" * 19 + "AA").replace(":", "") == sha1
    assert thumbprint_of(der, "ab" * 32).replace(":", "") == sha256
    assert thumbprint_of(der, "ab" * 32).count(":") == 31
    with pytest.raises(ValueError, match="not a SHA"):
        thumbprint_of(der, "ABCD")


def _self_signed(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vc01.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_ssl_context_verifies_by_default_and_only_skips_when_told(tmp_path: Path) -> None:
    default = ssl_context(Tls(), "vc01", 443, 5)
    assert default.verify_mode == ssl.CERT_REQUIRED and default.check_hostname
    ca = tmp_path / "ca.pem"
    _self_signed(ca)
    with_ca = ssl_context(Tls(ca_file=ca), "vc01", 443, 5)
    assert with_ca.verify_mode == ssl.CERT_REQUIRED and with_ca.check_hostname
    assert [c["subject"] for c in with_ca.get_ca_certs()] == [((("commonName", "vc01.test"),),)]
    off = ssl_context(Tls(verify=False), "vc01", 443, 5)
    assert off.verify_mode == ssl.CERT_NONE and not off.check_hostname


def test_plain_values_from_pyvmomi_objects() -> None:
    host = vim.HostSystem("host-12")
    mount = vim.Datastore.HostMount(
        key=host,
        mountInfo=vim.host.MountInfo(
            path="/vmfs/volumes/5c1f", accessMode="readWrite", accessible=False, inaccessibleReason="AllPathsDown_Start"
        ),
    )
    names = {"host-12": "esx01"}
    assert vsphere._plain([mount], names) == [
        {
            "key": "esx01",
            "mountInfo": {
                "path": "/vmfs/volumes/5c1f",
                "accessMode": "readWrite",
                "accessible": False,
                "inaccessibleReason": "AllPathsDown_Start",
            },
        }
    ]
    assert vsphere._plain(vim.HostSystem("host-99"), names) == "host-99"  # unknown: its moref id
    state = vsphere._plain(vim.VirtualMachine.PowerState.poweredOn, names)
    assert state == "poweredOn" and type(state) is str


def test_event_conversion() -> None:
    created = datetime(2026, 11, 22, 4, 0, 1, 250000)  # naive: vSphere times are UTC
    ex = vim.event.EventEx(
        key=42,
        chainId=42,
        createdTime=created,
        userName="",
        eventTypeId="esx.problem.storage.apd.start",
        severity="warning",
        fullFormattedMessage="Device ... has entered the All Paths Down state.",
        host=vim.event.HostEventArgument(name="esx01", host=vim.HostSystem("host-12")),
        ds=vim.event.DatastoreEventArgument(name="ds-nfs01", datastore=vim.Datastore("ds-1")),
        arguments=[vim.KeyAnyValue(key="1", value="5c1f")],
    )
    ev = vsphere._event_of(ex, {})
    assert (ev.key, ev.type, ev.event_type_id, ev.host, ev.datastore, ev.vm) == (
        42,
        "EventEx",
        "esx.problem.storage.apd.start",
        "esx01",
        "ds-nfs01",
        None,
    )
    assert ev.time == created.replace(tzinfo=UTC) and ev.severity == "warning" and ev.user is None
    assert ev.arguments == {"1": "5c1f"}
    crash = vim.event.VmGuestOSCrashedEvent(
        key=43,
        chainId=43,
        createdTime=created.replace(tzinfo=UTC),
        userName="vpxuser",
        fullFormattedMessage="win01: Guest operating system has crashed.",
        vm=vim.event.VmEventArgument(name="win01", vm=vim.VirtualMachine("vm-31")),
    )
    ev2 = vsphere._event_of(crash, {})
    assert (ev2.type, ev2.event_type_id, ev2.vm, ev2.user) == (
        "VmGuestOSCrashedEvent",
        "VmGuestOSCrashedEvent",
        "win01",
        "vpxuser",
    )


# -- the event collector is destroyed whatever happens ------------------------------------------------------


class FakeCollector:
    def __init__(self, batches: list[list[Any]], fail_at: int | None = None) -> None:
        self._moId = "session[x]collector-1"
        self.batches = batches
        self.fail_at = fail_at
        self.reads = 0
        self.destroyed = False
        self.rewound = False

    def RewindCollector(self) -> None:
        self.rewound = True

    def ReadNextEvents(self, count: int) -> list[Any]:
        self.reads += 1
        if self.fail_at is not None and self.reads == self.fail_at:
            raise vmodl.fault.ManagedObjectNotFound(msg="session expired")
        return self.batches.pop(0) if self.batches else []

    def DestroyCollector(self) -> None:
        self.destroyed = True


class FakeEventManager:
    def __init__(self, collector: FakeCollector) -> None:
        self.collector = collector
        self.specs: list[Any] = []

    def CreateCollectorForEvents(self, spec: Any) -> FakeCollector:
        self.specs.append(spec)
        return self.collector


class FakeContent:
    def __init__(self, collector: FakeCollector) -> None:
        self.rootFolder = vim.Folder("group-d1")
        self.eventManager = FakeEventManager(collector)


def _session(collector: FakeCollector) -> VsphereSession:
    ep = ApiEndpoint(address="vc01", user=USER, password=SecretRef("UNUSED"))
    s = VsphereSession(ep)
    s._content = FakeContent(collector)
    return s


def _ex(key: int, at: datetime, type_id: str) -> Any:
    return vim.event.EventEx(key=key, chainId=key, createdTime=at, eventTypeId=type_id, fullFormattedMessage=type_id)


def test_events_window_type_filter_order_and_destroy() -> None:
    t0 = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
    batches = [
        [_ex(3, t0 + timedelta(seconds=3), "esx.clear.storage.apd.exit"), _ex(1, t0 - timedelta(seconds=1), "x")],
        [_ex(2, t0 + timedelta(seconds=1), "esx.problem.storage.apd.start"), _ex(4, t0 + timedelta(minutes=9), "y")],
    ]
    collector = FakeCollector(batches)
    s = _session(collector)
    events = s.events(t0, t0 + timedelta(minutes=1))
    assert [e.key for e in events] == [2, 3]  # outside the window dropped (the simulator ignores spec.time)
    assert collector.rewound and collector.destroyed
    spec = s.content.eventManager.specs[0]
    assert spec.time.beginTime == t0 and spec.entity.recursion == "all" and spec.maxCount == vsphere.MAX_EVENTS
    only = _session(
        FakeCollector(
            [[_ex(5, t0, "esx.problem.storage.apd.start"), _ex(6, t0, "esx.problem.vmfs.nfs.server.disconnect")]]
        )
    )
    assert [e.key for e in only.events(t0, event_type_ids={"esx.problem.storage.apd.start"})] == [5]


def test_events_destroys_the_collector_when_reading_fails() -> None:
    collector = FakeCollector([[_ex(1, datetime(2026, 1, 1, tzinfo=UTC), "x")]], fail_at=2)
    s = _session(collector)
    with pytest.raises(LabError, match=f"{USER}@vc01:443: read events: vSphere fault ManagedObjectNotFound"):
        s.events(datetime(2025, 1, 1, tzinfo=UTC))
    assert collector.destroyed


def test_events_needs_aware_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _session(FakeCollector([])).events(datetime(2026, 1, 1))


# -- watches ------------------------------------------------------------------------------------------------


class FakePc:
    def __init__(self, updates: list[Any]) -> None:
        self.updates = updates
        self.calls: list[tuple[str, int | None]] = []
        self.destroyed = 0

    def WaitForUpdatesEx(self, version: str, options: Any) -> Any:
        self.calls.append((version, options.maxWaitSeconds))
        return self.updates.pop(0) if self.updates else None

    def DestroyPropertyCollector(self) -> None:
        self.destroyed += 1


def _update(version: str, moref: str, path: str, value: Any) -> Any:
    pc = vmodl.query.PropertyCollector
    change = pc.Change(name=path, op="assign", val=value)
    obj = pc.ObjectUpdate(kind="modify", obj=vim.Datastore(moref), changeSet=[change])
    return pc.UpdateSet(version=version, filterSet=[pc.FilterUpdate(filter=pc.Filter("f-1"), objectSet=[obj])])


def test_watch_wait_passes_versions_caps_the_wait_and_closes_once() -> None:
    s = VsphereSession(ApiEndpoint(address="vc01", user=USER, password=SecretRef("UNUSED")), timeout=30)
    s._names["ds-1"] = "ds-nfs01"
    pc = FakePc([_update("1", "ds-1", "summary.accessible", True), _update("2", "ds-1", "summary.accessible", False)])
    watch = vsphere.PropertyWatch(s, pc, "Datastore")
    watch.initial = watch._wait(None)
    assert [(c.name, c.path, c.value) for c in watch.initial] == [("ds-nfs01", "summary.accessible", True)]
    changes = watch.wait(600)
    assert [c.value for c in changes] == [False] and changes[0].time.tzinfo is UTC
    assert watch.wait(2) == []  # the server's wait expired: WaitForUpdatesEx returned None
    assert pc.calls == [("", None), ("1", 25), ("2", 2)]  # 600 s capped below the 30 s socket timeout
    watch.close()
    watch.close()
    assert pc.destroyed == 1 and watch.closed


def _batch(version: str, changes: list[tuple[Any, str, Any]]) -> Any:
    pc = vmodl.query.PropertyCollector
    objs = [
        pc.ObjectUpdate(kind="modify", obj=obj, changeSet=[pc.Change(name=path, op="assign", val=value)])
        for obj, path, value in changes
    ]
    return pc.UpdateSet(version=version, filterSet=[pc.FilterUpdate(filter=pc.Filter("f-1"), objectSet=objs)])


def test_wait_for_keeps_the_changes_after_its_match_and_names_each_objects_type() -> None:
    s = VsphereSession(ApiEndpoint(address="vc01", user=USER, password=SecretRef("UNUSED")), timeout=30)
    s._names.update({"ds-1": "ds-nfs01", "vm-1": "win01"})
    batch = _batch(
        "1",
        [
            (vim.Datastore("ds-1"), "summary.accessible", True),
            (vim.VirtualMachine("vm-1"), "guestHeartbeatStatus", "red"),
            (vim.VirtualMachine("vm-1"), "guestHeartbeatStatus", "green"),
        ],
    )
    watch = vsphere.PropertyWatch(s, FakePc([batch]), None)  # a watch_many watch: several kinds
    seen = watch.wait_for(lambda c: c.path == "summary.accessible", timeout=5)
    assert [(c.obj_type, c.name, c.value) for c in seen] == [("Datastore", "ds-nfs01", True)]
    rest = watch.wait(1)  # the two VM changes of the same batch are handed out, not lost
    assert [(c.obj_type, c.name, c.value) for c in rest] == [
        ("VirtualMachine", "win01", "red"),
        ("VirtualMachine", "win01", "green"),
    ]
    with pytest.raises(LabError, match="no matching property change"):
        watch.wait_for(lambda c: False, timeout=0.01)
