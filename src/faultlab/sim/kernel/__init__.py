"""Network and kernel plumbing of the embedded lab: namespaces, bridge, firewall, node mounts, commands."""
