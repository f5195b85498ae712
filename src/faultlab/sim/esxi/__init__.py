"""Simulated ESXi host: storage stack over real NFS/iSCSI, hostd, VMX + Windows guest, ESXi-format logs."""
