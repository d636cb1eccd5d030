// The Kubernetes web console outside a cluster: on a workstation or VM whose kubeconfig
// may exec into the target pods. In a cluster, use deploy/ instead (docs/kubernetes.md);
// its configuration is deploy/base/gotty.hcl, and this file agrees with it (a test checks)
// except for the listen addresses, the log format and the paths below. From the
// repository root:
//
//   gotty-py --config config/kubernetes.hcl examples/kubernetes/kube-exec.sh
//
// Relative paths in this file are relative to this file's directory (config/). Each
// session runs `kube-exec.sh NAMESPACE POD CONTAINER SHELL`, the four arguments coming
// from a signed launch token (JWT `args` claim) minted by your portal
// (examples/portal: `serve --args kube-exec`); when the session ends, for whatever reason,
// the cleanup command ends the shell and everything it started inside the container with
// a second `kubectl exec`.

address = "127.0.0.1"
port = "8080"
permit_write = true
max_connection = 16

// Launch tokens (docs/jwt.md): the portal holds the private key, the console only the
// public keys. Make both as deploy/keys/README.md says.
jwt_jwks_file = "../deploy/keys/console-jwks.json"
// The command takes its arguments from the token: without a key no session could run,
// so the server refuses to start (exit 2) rather than serve usage messages.
jwt_required = true
jwt_algorithms = "ES256"
jwt_audience = "console"
jwt_issuer = "portal"
jwt_max_lifetime = 120
title_format = "{{ .user }}: {{ .claims.ns }}/{{ .claims.pod }}"

// End the local side (kubectl and anything else the session started) quickly.
close_signal = "SIGHUP"
close_timeout = 5

// Then end the remote side: the shell kube-exec.sh left running in the container.
// {arg0} {arg1} {arg2} are the namespace, pod and container; {session} names the record.
cleanup_command = "../examples/kubernetes/kube-cleanup.sh {arg0} {arg1} {arg2} {session}"
cleanup_timeout = 15

// Notice a vanished browser (laptop lid, network cut) within about 45 s.
ws_ping_interval = 20
ws_ping_timeout = 20
init_timeout = 10

// Record every session and its cleanup, fail closed (docs/audit.md).
audit_dir = "../recordings"
audit_file_name = "{date}/{user}/{arg0}-{arg1}-{time}-{session}.cast"
audit_required = true
// The audit checkpoints' signing key (deploy/keys/README.md) and retention, as shipped.
audit_checkpoint_key = "../deploy/keys/audit-checkpoint.key"
audit_retention = "90d,8GiB"

// Probes and metrics on their own listener (docs/kubernetes.md).
ops_address = "127.0.0.1"
ops_port = "9090"
log_format = "text"

drain_timeout = 25
store = "memory"
