"""The simulated host's commands: esxcli, vim-cmd and ESXi's own tools, answered like ESXi."""
