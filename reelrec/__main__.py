"""`python -m reelrec` runs the CLI."""

from reelrec.cli import main

main()
