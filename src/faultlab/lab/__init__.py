"""REACH a lab: inventory, SSH, vSphere sessions, ESXi host and storage-target roles; decides nothing."""
