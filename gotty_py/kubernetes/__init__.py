"""The Kubernetes backend: sessions exec'd into pods through the API server, as the user.

`channels` (the pods/exec wire format, pure), `target` (the token's target and the
server's policy, pure), `config` (cluster credentials, with the official client's loaders),
`api` (the API server over HTTP and WebSocket), `pod_scripts` (what runs in the container
besides the command), `backend` (the `Backend` and its `Slave`).
"""
