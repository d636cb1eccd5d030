"""webtty layer of gotty-py (see DESIGN.md)."""
