// gotty-py as a Kubernetes web console (see examples/kubernetes/README.md):
//
//   gotty-py --config config/kubernetes.hcl examples/kubernetes/kube-exec.sh
//
// Each session runs `kube-exec.sh NAMESPACE POD CONTAINER SHELL`, the four arguments coming
// from a signed launch token (JWT `args` claim) minted by your portal; when the session
// ends, for whatever reason, the cleanup command ends the shell and everything it started
// inside the container with a second `kubectl exec`.

address = "0.0.0.0"
port = "8080"
permit_write = true

// End the local side (kubectl and anything else the session started) quickly.
close_signal = "SIGHUP"
close_timeout = 5

// Then end the remote side: the shell kube-exec.sh left running in the container.
// {arg0} {arg1} {arg2} are the namespace, pod and container; {session} names the record.
// A relative path here is relative to this file's directory.
cleanup_command = "../examples/kubernetes/kube-cleanup.sh {arg0} {arg1} {arg2} {session}"
cleanup_timeout = 30

// Notice a vanished browser (laptop lid, network cut) within about 45 s.
ws_ping_interval = 20
ws_ping_timeout = 20
init_timeout = 10

// Launch tokens decide NAMESPACE POD CONTAINER SHELL (docs/jwt.md); the portal holds the
// private key, the console only the public keys. Without a key no session could run, so
// the server refuses to start until one is set. Uncomment with your key file:
jwt_required = true
// jwt_jwks_file = "/etc/gotty/console-jwks.json"
// jwt_algorithms = "ES256"
// jwt_audience = "console"
// jwt_issuer = "portal"
// jwt_max_lifetime = 120
// title_format = "{{ .user }}: {{ .claims.args }}"

// Record every session and its cleanup (docs/audit.md):
// audit_dir = "/var/lib/gotty/recordings"
// audit_file_name = "{date}/{user}/{arg0}-{arg1}-{time}-{session}.cast"
// audit_required = true
