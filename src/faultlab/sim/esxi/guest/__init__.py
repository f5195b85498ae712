"""The guest side of the simulated host: the VMX process, the Windows guest model, vmware.log."""
