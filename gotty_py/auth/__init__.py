"""Authorization: who may load the page, open the WebSocket and start a session."""
