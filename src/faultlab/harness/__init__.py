"""DRIVE and RECORD a run: fault injectors, log cursors, runner, pytest plugin, reports, command line."""
