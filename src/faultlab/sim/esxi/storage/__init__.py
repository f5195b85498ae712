"""The simulated host's storage stack: NFS and iSCSI clients, APD/PDL state machines, VMFS files."""
