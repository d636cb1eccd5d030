"""`python -m gotty_py` runs the CLI."""

from .cli import main

main()
