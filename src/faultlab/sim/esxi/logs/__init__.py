"""ESXi log writers: one module per log, line layouts per version profile (7.0 / 8.0), size rotation."""
