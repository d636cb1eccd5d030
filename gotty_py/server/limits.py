"""The most the server reads from one client: message, body and header sizes.

Rules of this module: every fixed size limit on what a client sends is declared here, once,
with why it has the value it has; the options that tune a limit (`--init-message-limit`)
are checked against these bounds at start-up. Nothing here does I/O.
"""

from __future__ import annotations

# One input message after the session has started (a paste) may be this large.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
# The init holds a launch token and the page's query: a kilobyte is the least that fits a
# signed token, and more than the largest message would be no limit at all.
INIT_MESSAGE_FLOOR = 1024
# No route takes a request body (the page, scripts, static files, /ws): a client that
# declares or sends more than this gets 413 before the rest is read.
MAX_REQUEST_BODY = 4 * 1024
# The request line and headers together: a launch token in the page's URL, cookies of
# other applications on the same host and a proxy's X-Forwarded-* fit with room to spare.
MAX_HEADER_SIZE = 32 * 1024
