"""JUDGE recorded data: ESXi log parsing, the signature catalog, timelines, sequence checks, diagnoses (pure)."""
