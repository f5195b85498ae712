"""The embedded lab's node kinds: storage targets, simulated ESXi nodes and their shell, sshd, vCenter."""
