"""Session audit: asciicast v2 recordings, the JSON-lines event log and their off-loop writer.

Rules of this package: it knows nothing of WebSockets, the webtty protocol or PTYs; it takes
bytes, sizes, labels and plain dicts. The glue that turns a session into these calls lives in
`gotty_py.server.audit_observer`. See docs/audit.md.
"""
