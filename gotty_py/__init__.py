"""gotty-py: share any command-line program as a terminal in the browser."""

__version__ = "0.1.0"
