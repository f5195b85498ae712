"""The host events a simulated ESXi host forwards to vCenter, with ESXi's own ids, texts and argument order.

Texts are those of reference/esxi-facts.md (KB 323075 for APD; the NFS server and PDL templates are the
vCenter event templates, marked unverified there). Severities: problems `warning` (PDL `error`), clears `info`.
"""

from __future__ import annotations

from faultlab.sim.vcenter.control import HostEvent


def apd_start(host: str, identifier: str, datastore: str | None = None) -> HostEvent:
    """esx.problem.storage.apd.start: `identifier` is the device (naa.*) or the NFS volume id."""
    text = f"Device or filesystem with identifier [{identifier}] has entered the All Paths Down state."
    return HostEvent("esx.problem.storage.apd.start", text, host=host, datastore=datastore, arguments={"1": identifier})


def apd_timeout(host: str, identifier: str, seconds: int, datastore: str | None = None) -> HostEvent:
    """esx.problem.storage.apd.timeout, `seconds` = Misc.APDTimeout."""
    text = (
        f"Device or filesystem with identifier [{identifier}] has entered the All Paths Down Timeout state after "
        f"being in the All Paths Down state for {seconds} seconds. I/Os will now be fast failed."
    )
    args = {"1": identifier, "2": str(seconds)}
    return HostEvent("esx.problem.storage.apd.timeout", text, host=host, datastore=datastore, arguments=args)


def apd_exit(host: str, identifier: str, datastore: str | None = None) -> HostEvent:
    """esx.clear.storage.apd.exit."""
    text = f"Device or filesystem with identifier [{identifier}] has exited the All Paths Down state."
    args = {"1": identifier}
    return HostEvent(
        "esx.clear.storage.apd.exit", text, host=host, datastore=datastore, severity="info", arguments=args
    )


def _nfs_args(server: str, mount_point: str, volume_uuid: str, datastore: str) -> dict[str, str]:
    return {"1": server, "2": mount_point, "3": volume_uuid, "4": datastore}


def nfs_server_disconnect(host: str, server: str, mount_point: str, volume_uuid: str, datastore: str) -> HostEvent:
    """esx.problem.vmfs.nfs.server.disconnect."""
    text = f"Lost connection to server {server} mount point {mount_point} mounted as {volume_uuid} ({datastore})."
    args = _nfs_args(server, mount_point, volume_uuid, datastore)
    return HostEvent("esx.problem.vmfs.nfs.server.disconnect", text, host=host, datastore=datastore, arguments=args)


def nfs_server_restored(host: str, server: str, mount_point: str, volume_uuid: str, datastore: str) -> HostEvent:
    """esx.clear.vmfs.nfs.server.restored (an esx.clear id, not esx.problem)."""
    text = f"Restored connection to server {server} mount point {mount_point} mounted as {volume_uuid} ({datastore})."
    args = _nfs_args(server, mount_point, volume_uuid, datastore)
    return HostEvent(
        "esx.clear.vmfs.nfs.server.restored", text, host=host, datastore=datastore, severity="info", arguments=args
    )


def permanent_device_loss(host: str, device: str, datastores: list[str]) -> HostEvent:
    """esx.problem.scsi.device.state.permanentloss (PDL: sense 0x5/0x25/0x0 or the LUN removed)."""
    affected = ", ".join(datastores)
    text = f"Device {device} has been removed or is permanently inaccessible. Affected datastores (if any): {affected}."
    return HostEvent(
        "esx.problem.scsi.device.state.permanentloss",
        text,
        host=host,
        datastore=datastores[0] if datastores else None,
        severity="error",
        arguments={"1": device, "2": affected},
    )


def guest_os_crashed(host: str, vm: str, datacenter: str | None = None) -> HostEvent:
    """VmGuestOSCrashedEvent (what vCenter shows when the guest bugchecks). With `datacenter` (the vCenter's own)
    the text is the event's full format `<vm> on <host> in <datacenter>: Guest operating system has crashed.`:
    the host's copy says `ha-datacenter`, which vCenter does not show for its inventory [I: audit C7]."""
    where = f"{vm} on {host} in {datacenter}: " if datacenter else f"{vm}: "
    return HostEvent(
        type="VmGuestOSCrashedEvent", message=f"{where}Guest operating system has crashed.", host=host, vm=vm
    )


# vCenter's own events when a host's heartbeats stop and resume (vSphere Web Services API reference, 8.0U3:
# vim.event.HostConnectionLostEvent "records the loss of a host connection", vim.event.HostConnectedEvent "records a
# successful host connection"; runtime.connectionState notResponding: "VirtualCenter is not receiving heartbeats
# from the server. The state automatically changes to connected once heartbeats are received again."
# (vim.HostSystem.ConnectionState)). Their texts are vpxd's message catalog as an operator sees it; no verbatim
# capture of either was found in the searchable material [unverified]: the type is what scripts key on.


def host_connection_lost(host: str, datacenter: str | None = None) -> HostEvent:
    """HostConnectionLostEvent: vCenter stopped receiving the host's heartbeats (runtime.connectionState
    notResponding)."""
    where = f" in {datacenter}" if datacenter else ""
    return HostEvent(
        type="HostConnectionLostEvent", message=f"Host {host}{where} is not responding", host=host, severity="error"
    )


def host_connected(host: str, datacenter: str | None = None) -> HostEvent:
    """HostConnectedEvent: the host's heartbeats are received again (runtime.connectionState connected)."""
    where = f" in {datacenter}" if datacenter else ""
    return HostEvent(type="HostConnectedEvent", message=f"Connected to {host}{where}", host=host, severity="info")
