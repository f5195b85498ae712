"""The simulated vCenter: govmomi's vcsim (Debian's 0.24.2) with the lab's inventory, fed by the simulated hosts.

    spec = spec_from_inventory(inventory_dict, address="198.18.1.5", password=new_password())
    handle = start(state_dir / "vcenter", spec, netns="fl3a9c-vc")     # builds the launcher once, cached
    handle.push(datastores=[DatastoreState("ds-nfs01", accessible=False, host="esx01",
                                           inaccessible_reason="AllPathsDown_Start")],
                events=[events.apd_start("esx01", "5c1f0a2b-7e3d4f61", datastore="ds-nfs01")])
    handle.inventory_entry()   # the inventory's `vcenter:` section; handle.stop() ends it by pid
    bridge = start_bridge(state_dir / "vcenter", handle, {"esx01": esx01_control_socket})  # hosts -> vCenter

What the simulated vCenter can NOT show (vcsim 0.24.2 gaps; a real vCenter does):
- Event times are the vCenter's receive times (createdTime is set by PostEvent), not the host's own.
- EventHistoryCollector filters: `time`, `userName` and EventEx `eventTypeId` are ignored by the simulator
  (it matches `eventTypeId` against Go type names only); faultlab.lab.vsphere filters those client-side.
  A collector holds at most 1000 events.
- Only the properties the launcher sets are meaningful: datastore summary.accessible, host[].mountInfo
  accessible / inaccessibleReason / path, VM runtime.powerState / connectionState, guestHeartbeatStatus,
  guest.toolsRunningStatus / toolsStatus / guestState, summary.quickStats.guestHeartbeatStatus, host
  runtime.connectionState. Reading an unset property through `Fetch` (pyVmomi attribute access on a managed
  object) is reported to crash the simulator's request (not reproduced here for guest.ipAddress,
  summary.quickStats, config.files); faultlab reads through the property collector only.
- No host-side objects follow the pushed state: HostSystem config.fileSystemVolume, HostStorageSystem
  (multipath, SCSI LUN operational state), vmkernel/vobd logs, alarms and alarm-triggered state
  (overallStatus stays as created), triggered alarms, tasks for host-originated changes.
- No vMotion/HA/DRS reaction to APD/PDL (VMCP), no host disconnect after missed heartbeats, no
  VmDasBeingResetEvent; VM power changes pushed by hosts post no VmPoweredOn/OffEvent.
- No performance counters (latency), no vSAN, no storage I/O control, no SMS/storage providers.
- The VMFS datastore has no real device behind it (its files live in the launcher's scratch folder); the
  NFS datastore's url is the export folder, but vcsim's own VM files stay in that scratch folder.
- Managers with no implementation behind their ServiceContent reference (calls fault, e.g. AlarmManager
  methods answer MethodNotFound): AlarmManager, HostProfileManager, HealthUpdateManager, CryptoManager,
  FailoverClusterManager, among others (vcsim implements the managers named by its source files: event,
  property collector, view, task, search index, session, license, option, file, virtual disk, performance,
  storage resource...).
- Host events are posted by the launcher's own session: their userName is the vCenter login user.
- Property changes reach WaitForUpdatesEx on a 250 ms tick (vcsim batches them), so a watch sees a pushed
  change 0.25-0.5 s late; both values and order are kept.
- A destroyed PropertyCollector stays registered in vcsim 0.24.2 and keeps queueing every later change
  (memory grows per change per destroyed watch): harmless for a test run, restart the lab for very long ones.
"""

from faultlab.sim.vcenter import bridge, events
from faultlab.sim.vcenter.build import BuildResult, ensure_binary
from faultlab.sim.vcenter.control import (
    HOST_EVENT_IDS,
    ControlClient,
    DatastoreState,
    HostEvent,
    HostState,
    VmState,
)
from faultlab.sim.vcenter.process import (
    PASSWORD_ENV,
    BridgeHandle,
    VcenterHandle,
    new_password,
    start,
    start_bridge,
    stop_pid,
)
from faultlab.sim.vcenter.spec import VcDatastore, VcenterSpec, VcHost, VcVm, spec_from_inventory

__all__ = [
    "HOST_EVENT_IDS",
    "PASSWORD_ENV",
    "BridgeHandle",
    "BuildResult",
    "ControlClient",
    "DatastoreState",
    "HostEvent",
    "HostState",
    "VcDatastore",
    "VcHost",
    "VcVm",
    "VcenterHandle",
    "VcenterSpec",
    "VmState",
    "bridge",
    "ensure_binary",
    "events",
    "new_password",
    "spec_from_inventory",
    "start",
    "start_bridge",
    "stop_pid",
]
