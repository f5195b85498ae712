"""One module per fault kind; the registry (faults/registry.py) lists them."""
