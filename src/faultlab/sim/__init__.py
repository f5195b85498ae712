"""The EMBEDDED LAB: namespaces, real NFS/iSCSI targets, simulated ESXi hosts and vCenter (a black box)."""
