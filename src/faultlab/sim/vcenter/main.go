// Command faultlab-vcsim is the embedded lab's simulated vCenter: govmomi's simulator (vcsim) holding the
// lab's hosts, datastores and VMs, served over HTTPS with a self-signed certificate, plus a control channel
// (HTTP on a unix socket, JSON) through which the simulated ESXi hosts push their state and events.
//
// Usage: faultlab-vcsim -config spec.json   (the spec is written by faultlab.sim.vcenter)
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// ---- the spec (JSON) -------------------------------------------------------------------------------------

type hostSpec struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

type datastoreSpec struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"` // nfs | nfs41 | vmfs
	Hosts      []string `json:"hosts"`
	Path       string   `json:"path"` // nfs: the export folder (datastore url)
	RemoteHost string   `json:"remote_host"`
	RemotePath string   `json:"remote_path"`
	VolumeUUID string   `json:"volume_uuid"`
	NaaID      string   `json:"naa_id"`
}

type vmSpec struct {
	Name      string `json:"name"`
	Host      string `json:"host"`
	Datastore string `json:"datastore"`
	VmxPath   string `json:"vmx_path"`
	GuestOS   string `json:"guest_os"`
	PowerOn   *bool  `json:"power_on"`
}

type spec struct {
	Listen        string          `json:"listen"` // ip:port; port 0 picks a free one
	User          string          `json:"user"`
	Password      string          `json:"password"`
	Datacenter    string          `json:"datacenter"`
	StateDir      string          `json:"state_dir"`      // cert, key, scratch datastores, ready.json
	ControlSocket string          `json:"control_socket"` // unix socket of the control channel
	CertNames     []string        `json:"cert_names"`     // extra DNS names / IPs for the certificate
	Hosts         []hostSpec      `json:"hosts"`
	Datastores    []datastoreSpec `json:"datastores"`
	VMs           []vmSpec        `json:"vms"`
}

// ---- certificate ------------------------------------------------------------------------------------------

// loadOrMakeCert reuses the lab's certificate when it covers the listen address, so a pinned thumbprint
// stays valid across restarts of the same lab; otherwise it makes a new self-signed one.
func loadOrMakeCert(dir string, ip net.IP, names []string) (tls.Certificate, error) {
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if pair, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		if leaf, err := x509.ParseCertificate(pair.Certificate[0]); err == nil && leaf.VerifyHostname(ip.String()) == nil &&
			time.Now().Before(leaf.NotAfter) {
			return pair, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: ip.String(), Organization: []string{"faultlab embedded vCenter"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: the certificate is its own CA file
		IPAddresses:           []net.IP{ip},
	}
	for _, n := range names {
		if nip := net.ParseIP(n); nip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, nip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := ioutil.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := ioutil.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certFile, keyFile)
}

func hexPairs(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":")
}

// ---- the inventory ----------------------------------------------------------------------------------------

// lab maps the spec's names to the simulator's objects.
type lab struct {
	mu         sync.Mutex // serialises control requests
	client     *govmomi.Client
	dc         types.ManagedObjectReference
	hosts      map[string]types.ManagedObjectReference
	datastores map[string]types.ManagedObjectReference
	vms        map[string]types.ManagedObjectReference
	mounted    map[string]map[string]bool // datastore -> host names
}

func wait(ctx context.Context, start func() (*object.Task, error)) (types.AnyType, error) {
	task, err := start()
	if err != nil {
		return nil, err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return nil, err
	}
	return info.Result, nil
}

func guestID(os string) string {
	if os == "windows" {
		return string(types.VirtualMachineGuestOsIdentifierWindows9Server64Guest)
	}
	if os == "linux" {
		return string(types.VirtualMachineGuestOsIdentifierOtherLinux64Guest)
	}
	return string(types.VirtualMachineGuestOsIdentifierOtherGuest64)
}

func build(ctx context.Context, s *spec, c *govmomi.Client) (*lab, error) {
	l := &lab{client: c, hosts: map[string]types.ManagedObjectReference{},
		datastores: map[string]types.ManagedObjectReference{}, vms: map[string]types.ManagedObjectReference{},
		mounted: map[string]map[string]bool{}}
	root := object.NewRootFolder(c.Client)
	dc, err := root.CreateDatacenter(ctx, s.Datacenter)
	if err != nil {
		return nil, fmt.Errorf("datacenter %s: %w", s.Datacenter, err)
	}
	l.dc = dc.Reference()
	folders, err := dc.Folders(ctx)
	if err != nil {
		return nil, err
	}
	for _, h := range s.Hosts {
		res, err := wait(ctx, func() (*object.Task, error) {
			return folders.HostFolder.AddStandaloneHost(ctx, types.HostConnectSpec{HostName: h.Name}, true, nil, nil)
		})
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", h.Name, err)
		}
		l.hosts[h.Name] = res.(types.ManagedObjectReference)
	}
	scratch := filepath.Join(s.StateDir, "datastores")
	_ = os.RemoveAll(scratch)
	for _, d := range s.Datastores {
		if err := l.addDatastore(ctx, d, filepath.Join(scratch, d.Name)); err != nil {
			return nil, fmt.Errorf("datastore %s: %w", d.Name, err)
		}
	}
	for _, v := range s.VMs {
		if err := l.addVM(ctx, folders, v); err != nil {
			return nil, fmt.Errorf("vm %s: %w", v.Name, err)
		}
	}
	// The NFS datastore's url is the export folder; VMs were created in a scratch copy first so that the
	// simulator's own files (vmx, nvram, its "vmware.log") never land next to the lab's real VM files.
	for _, d := range s.Datastores {
		if d.Path == "" {
			continue
		}
		ds := simulator.Map.Get(l.datastores[d.Name]).(*simulator.Datastore)
		simulator.Map.WithLock(ds, func() {
			info := ds.Info.GetDatastoreInfo()
			info.Url = d.Path
			ds.Summary.Url = d.Path
		})
	}
	return l, nil
}

func (l *lab) addDatastore(ctx context.Context, d datastoreSpec, dir string) error {
	if len(d.Hosts) == 0 {
		return errors.New("no hosts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	first, ok := l.hosts[d.Hosts[0]]
	if !ok {
		return fmt.Errorf("unknown host %s", d.Hosts[0])
	}
	dss, err := object.NewHostSystem(l.client.Client, first).ConfigManager().DatastoreSystem(ctx)
	if err != nil {
		return err
	}
	var dsObj *object.Datastore
	switch d.Type {
	case "nfs", "nfs41":
		kind := string(types.HostFileSystemVolumeFileSystemTypeNFS)
		if d.Type == "nfs41" {
			kind = string(types.HostFileSystemVolumeFileSystemTypeNFS41)
		}
		dsObj, err = dss.CreateNasDatastore(ctx, types.HostNasVolumeSpec{RemoteHost: d.RemoteHost,
			RemotePath: d.RemotePath, LocalPath: dir, AccessMode: string(types.HostMountModeReadWrite), Type: kind})
	default:
		dsObj, err = dss.CreateLocalDatastore(ctx, d.Name, dir)
	}
	if err != nil {
		return err
	}
	ref := dsObj.Reference()
	l.datastores[d.Name] = ref
	uuid := d.VolumeUUID
	if uuid == "" {
		uuid = strings.ReplaceAll(d.Name, "-", "")
	}
	mount := "/vmfs/volumes/" + uuid
	l.mounted[d.Name] = map[string]bool{}
	ds := simulator.Map.Get(ref).(*simulator.Datastore)
	var mounts []types.DatastoreHostMount
	for _, hn := range d.Hosts {
		href, ok := l.hosts[hn]
		if !ok {
			return fmt.Errorf("unknown host %s", hn)
		}
		l.mounted[d.Name][hn] = true
		mounts = append(mounts, types.DatastoreHostMount{Key: href, MountInfo: types.HostMountInfo{
			Path: mount, AccessMode: string(types.HostMountModeReadWrite), Mounted: types.NewBool(true),
			Accessible: types.NewBool(true)}})
		if hn == d.Hosts[0] {
			continue
		}
		// The simulator mounts a datastore on one host per call; attach the others by hand.
		host := simulator.Map.Get(href).(*simulator.HostSystem)
		simulator.Map.WithLock(host, func() {
			host.Datastore = append(host.Datastore, ref)
			if cr, ok := simulator.Map.Get(*host.Parent).(*mo.ComputeResource); ok {
				simulator.Map.WithLock(cr, func() { cr.Datastore = append(cr.Datastore, ref) })
			}
		})
		if dsys := simulator.Map.Get(*host.ConfigManager.DatastoreSystem); dsys != nil {
			if hds, ok := dsys.(*simulator.HostDatastoreSystem); ok {
				hds.Datastore = append(hds.Datastore, ref)
			}
		}
	}
	simulator.Map.WithLock(ds, func() {
		ds.Host = mounts
		ds.Summary.Accessible = true
		if d.Type == "vmfs" {
			info := ds.Info.GetDatastoreInfo()
			ds.Summary.Type = "VMFS"
			ds.Info = &types.VmfsDatastoreInfo{DatastoreInfo: *info, Vmfs: &types.HostVmfsVolume{
				HostFileSystemVolume: types.HostFileSystemVolume{Type: "VMFS", Name: d.Name, Capacity: ds.Summary.Capacity},
				BlockSizeMb:          1, MaxBlocks: 63 * 1024, MajorVersion: 6, Version: "6.82", Uuid: uuid,
				Extent: []types.HostScsiDiskPartition{{DiskName: d.NaaID, Partition: 1}}}}
		}
	})
	return nil
}

func (l *lab) addVM(ctx context.Context, folders *object.DatacenterFolders, v vmSpec) error {
	href, ok := l.hosts[v.Host]
	if !ok {
		return fmt.Errorf("unknown host %s", v.Host)
	}
	if !l.mounted[v.Datastore][v.Host] {
		return fmt.Errorf("datastore %s is not mounted on host %s", v.Datastore, v.Host)
	}
	host := object.NewHostSystem(l.client.Client, href)
	pool, err := host.ResourcePool(ctx)
	if err != nil {
		return err
	}
	path := v.VmxPath
	if path == "" {
		path = fmt.Sprintf("[%s] %s/%s.vmx", v.Datastore, v.Name, v.Name)
	}
	config := types.VirtualMachineConfigSpec{Name: v.Name, GuestId: guestID(v.GuestOS), NumCPUs: 2, MemoryMB: 4096,
		Files: &types.VirtualMachineFileInfo{VmPathName: path}}
	res, err := wait(ctx, func() (*object.Task, error) { return folders.VmFolder.CreateVM(ctx, config, pool, host) })
	if err != nil {
		return err
	}
	ref := res.(types.ManagedObjectReference)
	l.vms[v.Name] = ref
	vm := object.NewVirtualMachine(l.client.Client, ref)
	on := v.PowerOn == nil || *v.PowerOn
	if on {
		if _, err := wait(ctx, func() (*object.Task, error) { return vm.PowerOn(ctx) }); err != nil {
			return err
		}
	}
	// vcsim leaves the guest unset; set what a running Windows guest with VMware Tools shows.
	tools, hb, guestState := types.VirtualMachineToolsRunningStatusGuestToolsNotRunning, types.ManagedEntityStatusGray, "notRunning"
	if on {
		tools, hb, guestState = types.VirtualMachineToolsRunningStatusGuestToolsRunning, types.ManagedEntityStatusGreen, "running"
	}
	obj := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	simulator.Map.WithLock(obj, func() {
		simulator.Map.Update(obj, []types.PropertyChange{
			{Name: "guest.toolsRunningStatus", Val: string(tools)},
			{Name: "guest.toolsStatus", Val: types.VirtualMachineToolsStatusToolsOk},
			{Name: "guest.guestState", Val: guestState},
			{Name: "guest.guestId", Val: config.GuestId},
			{Name: "guestHeartbeatStatus", Val: hb},
			{Name: "summary.quickStats.guestHeartbeatStatus", Val: hb},
			{Name: "summary.guest.toolsRunningStatus", Val: string(tools)},
		})
	})
	return nil
}

// ---- the control channel ----------------------------------------------------------------------------------

type dsPush struct {
	Name               string  `json:"name"`
	Host               string  `json:"host"` // empty: every host that mounts it
	Accessible         *bool   `json:"accessible"`
	InaccessibleReason *string `json:"inaccessible_reason"` // AllPathsDown_Start | AllPathsDown_Timeout | PermanentDeviceLoss | ""
}

type vmPush struct {
	Name                 string  `json:"name"`
	PowerState           *string `json:"power_state"`            // poweredOn | poweredOff | suspended
	ConnectionState      *string `json:"connection_state"`       // connected | disconnected | inaccessible | invalid | orphaned
	GuestHeartbeatStatus *string `json:"guest_heartbeat_status"` // green | yellow | red | gray
	ToolsRunningStatus   *string `json:"tools_running_status"`   // guestToolsRunning | guestToolsNotRunning
}

type hostPush struct {
	Name            string  `json:"name"`
	ConnectionState *string `json:"connection_state"` // connected | notResponding | disconnected
}

type eventPush struct {
	Type        string            `json:"type"`          // EventEx (default) | VmGuestOSCrashedEvent | HostConnectionLostEvent | HostConnectedEvent
	EventTypeID string            `json:"event_type_id"` // EventEx: esx.problem.storage.apd.start ...
	Severity    string            `json:"severity"`      // EventEx: info | warning | error
	Message     string            `json:"message"`
	Host        string            `json:"host"`
	Datastore   string            `json:"datastore"`
	VM          string            `json:"vm"`
	Arguments   map[string]string `json:"arguments"`
}

type push struct {
	Datastores []dsPush    `json:"datastores"`
	VMs        []vmPush    `json:"vms"`
	Hosts      []hostPush  `json:"hosts"`
	Events     []eventPush `json:"events"`
}

var (
	inaccessibleReasons = map[string]bool{"": true, "AllPathsDown_Start": true, "AllPathsDown_Timeout": true,
		"PermanentDeviceLoss": true}
	powerStates = map[string]bool{"poweredOn": true, "poweredOff": true, "suspended": true}
	vmConn      = map[string]bool{"connected": true, "disconnected": true, "inaccessible": true, "invalid": true,
		"orphaned": true}
	colors   = map[string]bool{"green": true, "yellow": true, "red": true, "gray": true}
	tools    = map[string]bool{"guestToolsRunning": true, "guestToolsNotRunning": true, "guestToolsExecutingScripts": true}
	hostConn = map[string]bool{"connected": true, "notResponding": true, "disconnected": true}
)

func check(field string, val *string, allowed map[string]bool) error {
	if val != nil && !allowed[*val] {
		return fmt.Errorf("%s: %q is not one of the allowed values", field, *val)
	}
	return nil
}

// validate checks the whole request before anything is applied, so a bad request changes nothing.
func (l *lab) validate(p *push) error {
	for _, d := range p.Datastores {
		if _, ok := l.datastores[d.Name]; !ok {
			return fmt.Errorf("unknown datastore %q", d.Name)
		}
		if _, ok := l.hosts[d.Host]; d.Host != "" && !ok {
			return fmt.Errorf("unknown host %q", d.Host)
		}
		if err := check("inaccessible_reason", d.InaccessibleReason, inaccessibleReasons); err != nil {
			return err
		}
	}
	for _, v := range p.VMs {
		if _, ok := l.vms[v.Name]; !ok {
			return fmt.Errorf("unknown vm %q", v.Name)
		}
		for _, e := range []error{check("power_state", v.PowerState, powerStates),
			check("connection_state", v.ConnectionState, vmConn),
			check("guest_heartbeat_status", v.GuestHeartbeatStatus, colors),
			check("tools_running_status", v.ToolsRunningStatus, tools)} {
			if e != nil {
				return e
			}
		}
	}
	for _, h := range p.Hosts {
		if _, ok := l.hosts[h.Name]; !ok {
			return fmt.Errorf("unknown host %q", h.Name)
		}
		if err := check("connection_state", h.ConnectionState, hostConn); err != nil {
			return err
		}
	}
	for _, e := range p.Events {
		if _, ok := l.hosts[e.Host]; e.Host != "" && !ok {
			return fmt.Errorf("unknown host %q", e.Host)
		}
		if _, ok := l.datastores[e.Datastore]; e.Datastore != "" && !ok {
			return fmt.Errorf("unknown datastore %q", e.Datastore)
		}
		if _, ok := l.vms[e.VM]; e.VM != "" && !ok {
			return fmt.Errorf("unknown vm %q", e.VM)
		}
		switch e.Type {
		case "", "EventEx":
			if e.EventTypeID == "" {
				return errors.New("EventEx needs event_type_id")
			}
		case "VmGuestOSCrashedEvent":
			if e.VM == "" {
				return errors.New("VmGuestOSCrashedEvent needs vm")
			}
		case "HostConnectionLostEvent", "HostConnectedEvent":
			if e.Host == "" {
				return fmt.Errorf("%s needs host", e.Type)
			}
		default:
			return fmt.Errorf("unsupported event type %q", e.Type)
		}
	}
	return nil
}

// update applies changes through Map.Update under the object's lock: that is what wakes WaitForUpdatesEx.
func update(obj mo.Reference, changes []types.PropertyChange) {
	if len(changes) == 0 {
		return
	}
	simulator.Map.WithLock(obj, func() { simulator.Map.Update(obj, changes) })
}

func (l *lab) applyDatastore(d dsPush) {
	ds := simulator.Map.Get(l.datastores[d.Name]).(*simulator.Datastore)
	var changes []types.PropertyChange
	simulator.Map.WithLock(ds, func() {
		mounts := make([]types.DatastoreHostMount, len(ds.Host))
		copy(mounts, ds.Host)
		any := false
		for i := range mounts {
			if d.Host == "" || mounts[i].Key == l.hosts[d.Host] {
				if d.Accessible != nil {
					mounts[i].MountInfo.Accessible = types.NewBool(*d.Accessible)
					if *d.Accessible && d.InaccessibleReason == nil {
						mounts[i].MountInfo.InaccessibleReason = ""
					}
				}
				if d.InaccessibleReason != nil {
					mounts[i].MountInfo.InaccessibleReason = *d.InaccessibleReason
				}
			}
			if a := mounts[i].MountInfo.Accessible; a != nil && *a {
				any = true
			}
		}
		// As vCenter: a datastore is accessible while at least one host reaches it.
		changes = []types.PropertyChange{{Name: "host", Val: mounts}}
		if any != ds.Summary.Accessible {
			changes = append(changes, types.PropertyChange{Name: "summary.accessible", Val: any})
		}
		simulator.Map.Update(ds, changes)
	})
}

func (l *lab) applyVM(v vmPush) {
	vm := simulator.Map.Get(l.vms[v.Name]).(*simulator.VirtualMachine)
	var c []types.PropertyChange
	if v.PowerState != nil {
		c = append(c, types.PropertyChange{Name: "runtime.powerState", Val: types.VirtualMachinePowerState(*v.PowerState)},
			types.PropertyChange{Name: "summary.runtime.powerState", Val: types.VirtualMachinePowerState(*v.PowerState)})
	}
	if v.ConnectionState != nil {
		val := types.VirtualMachineConnectionState(*v.ConnectionState)
		c = append(c, types.PropertyChange{Name: "runtime.connectionState", Val: val},
			types.PropertyChange{Name: "summary.runtime.connectionState", Val: val})
	}
	if v.GuestHeartbeatStatus != nil {
		val := types.ManagedEntityStatus(*v.GuestHeartbeatStatus)
		c = append(c, types.PropertyChange{Name: "guestHeartbeatStatus", Val: val},
			types.PropertyChange{Name: "summary.quickStats.guestHeartbeatStatus", Val: val})
	}
	if v.ToolsRunningStatus != nil {
		c = append(c, types.PropertyChange{Name: "guest.toolsRunningStatus", Val: *v.ToolsRunningStatus},
			types.PropertyChange{Name: "summary.guest.toolsRunningStatus", Val: *v.ToolsRunningStatus})
	}
	update(vm, c)
}

func (l *lab) applyHost(h hostPush) {
	host := simulator.Map.Get(l.hosts[h.Name]).(*simulator.HostSystem)
	if h.ConnectionState != nil {
		val := types.HostSystemConnectionState(*h.ConnectionState)
		update(host, []types.PropertyChange{{Name: "runtime.connectionState", Val: val},
			{Name: "summary.runtime.connectionState", Val: val}})
	}
}

func (l *lab) eventOf(e eventPush) types.BaseEvent {
	base := types.Event{FullFormattedMessage: e.Message,
		Datacenter: &types.DatacenterEventArgument{Datacenter: l.dc,
			EntityEventArgument: types.EntityEventArgument{Name: simulator.Map.Get(l.dc).(mo.Entity).Entity().Name}}}
	objType, objID, objName := "", "", ""
	if e.Host != "" {
		ref := l.hosts[e.Host]
		base.Host = &types.HostEventArgument{Host: ref, EntityEventArgument: types.EntityEventArgument{Name: e.Host}}
		objType, objID, objName = "HostSystem", ref.Value, e.Host
	}
	if e.Datastore != "" {
		ref := l.datastores[e.Datastore]
		base.Ds = &types.DatastoreEventArgument{Datastore: ref, EntityEventArgument: types.EntityEventArgument{Name: e.Datastore}}
	}
	if e.VM != "" {
		ref := l.vms[e.VM]
		base.Vm = &types.VmEventArgument{Vm: ref, EntityEventArgument: types.EntityEventArgument{Name: e.VM}}
		if e.Host == "" {
			objType, objID, objName = "VirtualMachine", ref.Value, e.VM
		}
	}
	if e.Type == "VmGuestOSCrashedEvent" {
		if base.FullFormattedMessage == "" {
			base.FullFormattedMessage = fmt.Sprintf("%s: Guest operating system has crashed.", e.VM)
		}
		return &types.VmGuestOSCrashedEvent{VmEvent: types.VmEvent{Event: base}}
	}
	// vCenter's own host events (vim.event.HostConnectionLostEvent "records the loss of a host connection", HostConnectedEvent "a successful host connection": vSphere API reference),
	// which vpxd logs when the host's heartbeats stop and resume: typed events, not EventEx.
	if e.Type == "HostConnectionLostEvent" {
		return &types.HostConnectionLostEvent{HostEvent: types.HostEvent{Event: base}}
	}
	if e.Type == "HostConnectedEvent" {
		return &types.HostConnectedEvent{HostEvent: types.HostEvent{Event: base}}
	}
	var args []types.KeyAnyValue
	for k, v := range e.Arguments {
		args = append(args, types.KeyAnyValue{Key: k, Value: v})
	}
	sev := e.Severity
	if sev == "" {
		sev = "info"
	}
	return &types.EventEx{Event: base, EventTypeId: e.EventTypeID, Severity: sev, Message: e.Message,
		Arguments: args, ObjectId: objID, ObjectType: objType, ObjectName: objName}
}

func (l *lab) apply(ctx context.Context, p *push) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.validate(p); err != nil {
		return err
	}
	for _, d := range p.Datastores {
		l.applyDatastore(d)
	}
	for _, v := range p.VMs {
		l.applyVM(v)
	}
	for _, h := range p.Hosts {
		l.applyHost(h)
	}
	// Events go through the SOAP PostEvent, as vpxd would record them: collectors see them at once.
	mgr := event.NewManager(l.client.Client)
	for _, e := range p.Events {
		if err := mgr.PostEvent(ctx, l.eventOf(e)); err != nil {
			return fmt.Errorf("post %s: %w", e.EventTypeID, err)
		}
	}
	return nil
}

// state is what GET /state returns: the pushed properties as the simulator holds them.
func (l *lab) state() map[string]interface{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	dss := map[string]interface{}{}
	for name, ref := range l.datastores {
		ds := simulator.Map.Get(ref).(*simulator.Datastore)
		simulator.Map.WithLock(ds, func() {
			mounts := map[string]interface{}{}
			for _, m := range ds.Host {
				h := simulator.Map.Get(m.Key).(*simulator.HostSystem)
				mounts[h.Name] = map[string]interface{}{"accessible": m.MountInfo.Accessible != nil && *m.MountInfo.Accessible,
					"inaccessible_reason": m.MountInfo.InaccessibleReason, "path": m.MountInfo.Path}
			}
			dss[name] = map[string]interface{}{"accessible": ds.Summary.Accessible, "url": ds.Summary.Url,
				"moref": ref.Value, "hosts": mounts}
		})
	}
	vms := map[string]interface{}{}
	for name, ref := range l.vms {
		vm := simulator.Map.Get(ref).(*simulator.VirtualMachine)
		simulator.Map.WithLock(vm, func() {
			vms[name] = map[string]interface{}{"power_state": vm.Runtime.PowerState,
				"connection_state": vm.Runtime.ConnectionState, "guest_heartbeat_status": vm.GuestHeartbeatStatus,
				"tools_running_status": vm.Guest.ToolsRunningStatus, "moref": ref.Value}
		})
	}
	hosts := map[string]interface{}{}
	for name, ref := range l.hosts {
		h := simulator.Map.Get(ref).(*simulator.HostSystem)
		simulator.Map.WithLock(h, func() {
			hosts[name] = map[string]interface{}{"connection_state": h.Runtime.ConnectionState, "moref": ref.Value}
		})
	}
	return map[string]interface{}{"datastores": dss, "vms": vms, "hosts": hosts}
}

func reply(w http.ResponseWriter, code int, body interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func (l *lab) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/state", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, l.state())
	})
	mux.HandleFunc("/v1/push", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			reply(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
			return
		}
		var p push
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": "bad JSON: " + err.Error()})
			return
		}
		if err := l.apply(r.Context(), &p); err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		reply(w, http.StatusOK, map[string]bool{"ok": true})
	})
	return mux
}

// ---- main -------------------------------------------------------------------------------------------------

func run(configPath string) error {
	raw, err := ioutil.ReadFile(configPath)
	if err != nil {
		return err
	}
	var s spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("%s: %w", configPath, err)
	}
	if s.Datacenter == "" {
		s.Datacenter = "faultlab"
	}
	host, port, err := net.SplitHostPort(s.Listen)
	if err != nil {
		return fmt.Errorf("listen %q: %w", s.Listen, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("listen %q: not an IP address", s.Listen)
	}
	if err := os.MkdirAll(s.StateDir, 0o755); err != nil {
		return err
	}
	cert, err := loadOrMakeCert(s.StateDir, ip, s.CertNames)
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	// The listener is opened here (not by the simulator, which panics) so a busy port is a clean error.
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	_ = ln.Close()

	model := simulator.VPX()
	model.Datacenter, model.Host, model.Cluster, model.ClusterHost = 0, 0, 0, 0
	model.Datastore, model.Machine, model.Portgroup, model.Autostart = 0, 0, 0, false
	if err := model.Create(); err != nil {
		return err
	}
	defer model.Remove()
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	model.Service.Listen = &url.URL{Host: addr, User: url.UserPassword(s.User, s.Password)}
	server := model.Service.NewServer()
	defer server.Close()

	ctx := context.Background()
	// The launcher's own session; the server certificate is its own, so there is nothing to verify.
	c, err := govmomi.NewClient(ctx, server.URL, true)
	if err != nil {
		return fmt.Errorf("self login: %w", err)
	}
	l, err := build(ctx, &s, c)
	if err != nil {
		return err
	}

	_ = os.Remove(s.ControlSocket)
	cl, err := net.Listen("unix", s.ControlSocket)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	_ = os.Chmod(s.ControlSocket, 0o600)
	defer os.Remove(s.ControlSocket)
	go func() { _ = http.Serve(cl, l.handler()) }()

	leaf := cert.Certificate[0]
	s1, s256 := sha1.Sum(leaf), sha256.Sum256(leaf)
	ready := map[string]interface{}{"pid": os.Getpid(), "url": "https://" + addr + "/sdk", "address": host,
		"port": ln.Addr().(*net.TCPAddr).Port, "cert_file": filepath.Join(s.StateDir, "cert.pem"),
		"thumbprint_sha1": hexPairs(s1[:]), "thumbprint_sha256": hexPairs(s256[:]),
		"control_socket": s.ControlSocket, "datacenter": s.Datacenter}
	data, _ := json.MarshalIndent(ready, "", "  ")
	tmp := filepath.Join(s.StateDir, "ready.json.tmp")
	if err := ioutil.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.StateDir, "ready.json")); err != nil {
		return err
	}
	log.Printf("faultlab-vcsim serving %s (control %s)", ready["url"], s.ControlSocket)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	_ = os.Remove(filepath.Join(s.StateDir, "ready.json"))
	return nil
}

func main() {
	config := flag.String("config", "", "the launcher spec (JSON)")
	flag.Parse()
	if *config == "" {
		fmt.Fprintln(os.Stderr, "usage: faultlab-vcsim -config spec.json")
		os.Exit(2)
	}
	if err := run(*config); err != nil {
		fmt.Fprintln(os.Stderr, "faultlab-vcsim:", err)
		os.Exit(1)
	}
}
