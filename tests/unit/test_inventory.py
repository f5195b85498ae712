"""The inventory model: the example loads, mistakes name file/line/key, secrets stay masked, faults need consent."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from faultlab.lab.credentials import SecretRef, SecretValue
from faultlab.lab.errors import ConfigError, FaultNotAllowedError
from faultlab.lab.inventory import Inventory, inventory_json_schema, load_inventory, parse_inventory
from faultlab.lab.yamlsource import format_key, parse_yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventory.example.yaml"

MINIMAL = """\
version: 1
ssh:
  user: root
  private_key: id_ed25519
  known_hosts: known_hosts
hosts:
  - name: esx01
    address: 198.18.1.11
storage_targets:
  - name: nfs01
    kind: nfs
    address: 198.18.1.21
    allow_faults: true
    ports: {nfs: 2049}
    service: {start: start-it, stop: [stop, it]}
  - name: nfs02
    kind: nfs
    address: 198.18.1.22
    ports: {nfs: 2049}
    service: {start: start-it, stop: stop-it}
datastores:
  - {name: ds-nfs01, type: nfs, target: nfs01, hosts: [esx01]}
vms:
  - {name: win01, host: esx01, datastore: ds-nfs01}
"""


def parse(text: str, **kw: Any) -> Inventory:
    return parse_inventory(text, "inventory.yaml", base_dir=Path("/labs/x"), check_files=False, **kw)


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return info.value


# -- the example and the embedded lab's file ------------------------------------------------------------


def test_example_loads_and_merges_defaults() -> None:
    inv = load_inventory(EXAMPLE, check_files=False)
    assert [h.name for h in inv.hosts] == ["esx01", "esx02"]
    esx01 = inv.ssh_for("esx01")
    assert esx01.host_key_fingerprint is not None and esx01.known_hosts is None  # own policy replaces the default
    assert esx01.user == "root" and esx01.private_key == Path.home() / ".ssh/faultlab_ed25519"
    nfs01 = inv.ssh_for("nfs01")
    assert nfs01.user == "faultlab" and nfs01.known_hosts == Path.home() / ".ssh/faultlab_known_hosts"
    assert inv.vcenter is not None and str(inv.vcenter.password) == "${FAULTLAB_VC_PASSWORD}"
    assert inv.target("iscsi01").service.start == ["systemctl", "start", "tgt"]
    assert inv.warnings == []


def _model_keys(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    keys: set[str] = set()
    if model in seen:
        return keys
    seen.add(model)
    for name, info in model.model_fields.items():
        keys.add(name)
        for sub in _nested_models(info.annotation):
            keys |= _model_keys(sub, seen)
    return keys


def _nested_models(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in getattr(tp, "__args__", ()) for m in _nested_models(arg)]


def test_example_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    missing = [k for k in sorted(_model_keys(Inventory, set())) if not re.search(rf"\b{k}:.*#|#.*\b{k}:", text)]
    assert missing == [], f"keys without a commented line in inventory.example.yaml: {missing}"


def test_embedded_lab_inventory_is_accepted() -> None:
    from faultlab.sim.inventory import inventory as sim_inventory
    from faultlab.sim.topology import Layout

    data = sim_inventory(Layout("fl3a9c", 7, 2, ("win01", "win02")), "8.0", True)
    inv = parse_inventory(yaml.safe_dump(data, sort_keys=False), "lab.yaml", check_files=False)
    assert inv.kind == "embedded"
    assert inv.ssh_for("esx02").known_hosts == Path("/run/faultlab/fl3a9c/ssh/known_hosts")
    assert inv.target("iscsi01").service.lun_remove is not None
    inv.require_fault_allowed("nfs01")
    inv.require_fault_allowed("iscsi01")


# -- mistakes name file, line and key ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "message"),
    [
        ("    address: 198.18.1.11", "    address: 198.18.1.11\n    adress: x", 9, "hosts[0].adress", "unknown key"),
        ("  - name: esx01\n    address: 198.18.1.11\n", "  - name: esx01\n", 7, "hosts[0].address", "Field required"),
        (
            "    ports: {nfs: 2049}\n    service: {start: start-it, stop: [stop",
            "    ports: {nfs: 99999}\n    service: {start: start-it, stop: [stop",
            14,
            "storage_targets[0].ports.nfs",
            "less than or equal to 65535",
        ),
        (
            "kind: nfs\n    address: 198.18.1.21",
            "kind: fc\n    address: 198.18.1.21",
            11,
            "storage_targets[0].kind",
            "'nfs' or 'iscsi'",
        ),
        ("target: nfs01", "target: nfs09", 22, "datastores[0].target", "no storage target named 'nfs09'"),
        ("host: esx01, datastore", "host: esx09, datastore", 24, "vms[0].host", "no host named 'esx09'"),
        ("hosts: [esx01]", "hosts: [esx01, esx07]", 22, "datastores[0].hosts[1]", "no host named 'esx07'"),
        ("    allow_faults: true", "    allow_faults: yes", 13, "storage_targets[0].allow_faults", "valid boolean"),
        ("  - name: nfs02", "  - name: esx01", 16, "storage_targets[1].name", "already used at hosts[0]"),
        ("  known_hosts: known_hosts\n", "", 2, "ssh", "no host-key policy"),
        (
            "  known_hosts: known_hosts\n",
            "  known_hosts: k\n  host_key_fingerprint: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8\n",
            2,
            "ssh",
            "choose one host-key policy",
        ),
        (
            "  known_hosts: known_hosts\n",
            "  host_key_fingerprint: MD5:aa:bb\n",
            5,
            "ssh.host_key_fingerprint",
            "should match pattern",
        ),
        ("version: 1", "version: 2", 1, "version", "Input should be 1"),
        (
            "    address: 198.18.1.11",
            "    address: not_a host",
            8,
            "hosts[0].address",
            "neither an IP address nor a host name",
        ),
    ],
)
def test_mistakes_name_file_line_and_key(old: str, new: str, line: int, key: str, message: str) -> None:
    assert old in MINIMAL
    err = error_of(MINIMAL.replace(old, new))
    assert (err.file, err.line, err.key) == ("inventory.yaml", line, key), str(err)
    assert message in str(err)
    assert f"inventory.yaml, line {line}, key {key}: " in str(err)


def test_every_problem_is_listed() -> None:
    text = MINIMAL.replace("target: nfs01", "target: nfs09").replace("host: esx01, datastore", "host: esx09, datastore")
    err = error_of(text)
    assert [i.key for i in err.issues] == ["datastores[0].target", "vms[0].host"]
    assert str(err).startswith("2 problems:\n  inventory.yaml, line 22, key datastores[0].target: ")


def test_yaml_syntax_and_duplicate_keys_name_the_line() -> None:
    err = error_of("version: 1\nhosts:\n  - name: [esx01\n")
    assert err.line == 4 and "YAML syntax error" in str(err)
    err = error_of(MINIMAL.replace("    address: 198.18.1.11", "    address: 198.18.1.11\n    address: 198.18.1.12"))
    assert (err.line, err.key) == (9, "hosts[0].address") and "first written on line 8" in str(err)


def test_missing_files_are_reported_when_checked(tmp_path: Path) -> None:
    (tmp_path / "id_ed25519").write_text("key")
    with pytest.raises(ConfigError) as info:
        parse_inventory(MINIMAL, "inventory.yaml", base_dir=tmp_path)
    assert [(i.line, i.key) for i in info.value.issues] == [(5, "ssh.known_hosts")]  # once, not per node
    assert f"no such file: {tmp_path / 'known_hosts'}" in str(info.value)
    (tmp_path / "known_hosts").write_text("")
    assert (
        parse_inventory(MINIMAL, "inventory.yaml", base_dir=tmp_path).ssh_for("esx01").private_key
        == tmp_path / "id_ed25519"
    )


def test_needs_vcenter_or_hosts() -> None:
    assert str(error_of("# nothing\n")) == "inventory.yaml: the file is empty"
    assert "line 2, key hosts: Input should be a valid list" in str(error_of("version: 1\nhosts: esx01\n").issues[0])
    err = error_of("version: 1\n")
    assert "needs a vcenter or at least one host" in str(err) and err.line == 1


def test_format_key_quotes_dotted_names() -> None:
    assert format_key(("expect", "counts", "guest.bsod", "min")) == "expect.counts['guest.bsod'].min"
    assert format_key(("hosts", 0, "ssh", "known_hosts")) == "hosts[0].ssh.known_hosts"


def test_yaml_12_booleans() -> None:
    assert parse_yaml("a: on\nb: yes\nc: true\nd: FALSE\n", "x").data == {"a": "on", "b": "yes", "c": True, "d": False}


# -- secrets -----------------------------------------------------------------------------------------------


VC = """\
vcenter:
  address: vc01.lab.example
  user: administrator@vsphere.local
  password: {password}
"""


def test_literal_secret_is_refused_without_echoing_it() -> None:
    err = error_of("version: 1\n" + VC.format(password="Sup3rS3cret!"))
    assert (err.line, err.key) == (5, "vcenter.password")
    assert "literal secrets are refused" in str(err) and "${" in str(err)
    assert "Sup3rS3cret" not in str(err) and "Sup3rS3cret" not in repr(err.issues)


def test_secret_reference_is_masked_and_resolved() -> None:
    inv = parse("version: 1\n" + VC.format(password="${FL_TEST_VC_PW}"))
    assert inv.vcenter is not None
    ref = inv.vcenter.password
    assert isinstance(ref, SecretRef) and str(ref) == "${FL_TEST_VC_PW}"
    value = ref.resolve({"FL_TEST_VC_PW": "hunter2"})
    assert isinstance(value, SecretValue) and value.reveal() == "hunter2"
    assert "hunter2" not in f"{value} {value!r} {inv!r} {inv.model_dump()} {inv.model_dump_json()}"
    assert inv.model_dump(mode="json")["vcenter"]["password"] == "${FL_TEST_VC_PW}"


def test_missing_env_var_names_key_and_variable() -> None:
    inv = parse("version: 1\n" + VC.format(password="${FL_TEST_UNSET_VAR}"))
    assert inv.vcenter is not None
    with pytest.raises(ConfigError) as info:
        inv.vcenter.password.resolve({})
    assert (
        str(info.value)
        == "inventory.yaml, line 5, key vcenter.password: environment variable FL_TEST_UNSET_VAR is not set"
    )


def test_insecure_policies_warn_loudly(caplog: pytest.LogCaptureFixture) -> None:
    text = MINIMAL.replace("  known_hosts: known_hosts\n", "  insecure_accept_any_host_key: true\n")
    text += "vcenter: {address: vc01, user: u, password: '${X}', tls: {verify: false}}\n"
    inv = parse(text)
    assert any("ANY SSH host key is accepted" in w for w in inv.warnings)
    assert any("vcenter: TLS certificate NOT verified" in w for w in inv.warnings)
    assert "ANY SSH host key" in caplog.text


# -- fault consent -----------------------------------------------------------------------------------------


def test_require_fault_allowed() -> None:
    inv = parse(MINIMAL)
    inv.require_fault_allowed("nfs01")
    with pytest.raises(FaultNotAllowedError) as info:
        inv.require_fault_allowed("nfs02")
    assert (info.value.line, info.value.key) == (16, "storage_targets[1].allow_faults")
    assert "needs an explicit `allow_faults: true`" in str(info.value)
    with pytest.raises(FaultNotAllowedError, match="host 'esx01' may not be touched"):
        inv.require_fault_allowed("esx01")
    with pytest.raises(ConfigError, match="no host or storage target named 'nfs99'"):
        inv.require_fault_allowed("nfs99")


# -- published schema --------------------------------------------------------------------------------------


def test_committed_schemas_are_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_schemas.py"), "--check"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    committed = json.loads((ROOT / "schemas" / "inventory.schema.json").read_text())
    assert committed == inventory_json_schema()


def test_published_schema_accepts_the_example_and_refuses_a_literal_secret() -> None:
    schema = json.loads((ROOT / "schemas" / "inventory.schema.json").read_text())
    example = yaml.safe_load(EXAMPLE.read_text())
    jsonschema.validate(example, schema)
    example["vcenter"]["password"] = "plain"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(example, schema)


# -- one boolean rule (issue 11 item 9) ----------------------------------------------------------------------


def _bool_fields(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> list[tuple[str, bool]]:
    """(Model.field, strict?) of every boolean field reachable from `model`."""
    import typing

    from pydantic import Strict

    seen = seen if seen is not None else set()
    if model in seen:
        return []
    seen.add(model)
    out: list[tuple[str, bool]] = []

    def visit(name: str, tp: Any, metadata: list[Any]) -> None:
        if typing.get_origin(tp) is typing.Annotated:
            base, *meta = typing.get_args(tp)
            visit(name, base, [*metadata, *meta])
        elif tp is bool:
            out.append((name, any(isinstance(m, Strict) and m.strict for m in metadata)))
        elif isinstance(tp, type) and issubclass(tp, BaseModel):
            out.extend(_bool_fields(tp, seen))
        else:
            for arg in typing.get_args(tp):
                visit(name, arg, [])

    for key, field in model.model_fields.items():
        visit(f"{model.__name__}.{key}", field.annotation, list(field.metadata))
    return out


def test_every_boolean_key_takes_only_true_or_false() -> None:
    fields = _bool_fields(Inventory)
    assert {"Tls.verify", "Host.allow_faults", "Host.running", "StorageTarget.allow_faults"} <= {n for n, _ in fields}
    assert [n for n, strict in fields if not strict] == []
    template = 'version: 1\nvcenter: {address: vc, user: u, password: "${X}", tls: {verify: WORD}}\n'
    for word in ("no", "off", "0", "false"):
        text = template.replace("WORD", word)
        if word == "false":
            inv = parse(text)
            assert inv.vcenter is not None and inv.vcenter.tls.verify is False
            continue
        text = text.replace(word + "}", f'"{word}"}}') if word == "0" else text
        err = error_of(text)
        assert (err.line, err.key) == (2, "vcenter.tls.verify"), word
        assert "valid boolean" in str(err)
