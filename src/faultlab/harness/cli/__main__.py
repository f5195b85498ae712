"""`python -m faultlab.harness.cli`: the faultlab command line."""

from faultlab.harness.cli import main

main()
