"""One module per fault kind; faults/registry.py lists them, one line each.

A kind module holds its scenario section (a FaultSection subclass with `kind: Literal["<name>"]` and its own keys),
its Params (what heal needs, kept in the ledger) and a FaultKind subclass: check (static, against the inventory),
affected_datastores and plan (refusals), preflight (read the node before anything changes), inject, heal,
verify_active, verify_healed and heal_line (the dead-man timer's shell line). A kind that acts on an ESXi host
itself sets `acts_on = "host"` (see esxi_path_off.py); the scenario schema is regenerated with
`python scripts/gen_schemas.py`.
"""
