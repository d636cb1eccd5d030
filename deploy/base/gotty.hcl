// gotty-py as the cluster's web console (deploy/, docs/kubernetes.md). This file is the
// ConfigMap the Deployment mounts at /etc/gotty/config/gotty.hcl; it works as shipped.
//
// Each session runs /opt/gotty-py/kubernetes/kube-exec.sh NAMESPACE POD CONTAINER SHELL,
// the four arguments coming only from a signed launch token (JWT `args` claim) minted by
// the portal; when the session ends, for whatever reason, kube-cleanup.sh ends the shell
// and everything it started inside the container with a second `kubectl exec`.

address = "0.0.0.0"
port = "8080"
// DNS rebinding protection: the Host header must name a host this server serves. On this
// listener any IP address and the pod's name are served; behind the Ingress the Host is
// the console's public name, which must be listed (patterns like "*.example.com" work):
// allowed_hosts = "console.example.com"
permit_write = true
// Each session is a kubectl process (30-50 MiB): this bounds the pod's memory (1 GiB).
max_connection = 16

// Launch tokens (docs/jwt.md). The console holds only the portal's public keys, a JWKS
// from the Secret gotty-console-jwks (deploy/keys/console-jwks.json).
jwt_jwks_file = "/etc/gotty/jwks/console-jwks.json"
// The command takes its arguments from the token: without a key no session could run,
// so the server refuses to start (exit 2) rather than serve usage messages.
jwt_required = true
jwt_algorithms = "ES256"
jwt_audience = "console"
jwt_issuer = "portal"
jwt_max_lifetime = 120
title_format = "{{ .user }}: {{ .claims.ns }}/{{ .claims.pod }}"

// End the local side (kubectl) quickly.
close_signal = "SIGHUP"
close_timeout = 5

// Then the remote side: the shell kube-exec.sh left running in the container.
// {arg0} {arg1} {arg2} are the namespace, pod and container; {session} names the record.
cleanup_command = "/opt/gotty-py/kubernetes/kube-cleanup.sh {arg0} {arg1} {arg2} {session}"
// close_timeout + cleanup_timeout fit within drain_timeout, so a SIGTERM still ends
// every session with its cleanup.
cleanup_timeout = 15

// Notice a vanished browser (laptop lid, network cut) within about 45 s.
ws_ping_interval = 20
ws_ping_timeout = 20
init_timeout = 10

// Every session recorded, fail closed (docs/audit.md). The directory is this pod's own
// subdirectory of the audit volume, so the event log (sessions.jsonl) has one writer.
audit_dir = "/var/lib/gotty/audit"
audit_file_name = "{date}/{user}/{arg0}-{arg1}-{time}-{session}.cast"
audit_required = true
// Signed checkpoints of the event log (every 100 lines or 60 s, and at shutdown), with the
// key from the Secret gotty-console-audit-key (deploy/keys/audit-checkpoint.key); auditors
// verify with its .pub: gotty-py-audit verify --public-key audit-checkpoint.key.pub
audit_checkpoint_key = "/etc/gotty/audit-key/audit-checkpoint.key"
// Keep 90 days, at most 8 GiB of the 10 GiB claim (the rest: the active event log and the
// recordings of running sessions, never removed); the event log rolls daily.
audit_retention = "90d,8GiB"

// Probes and metrics on their own listener, outside the Service and any Ingress.
ops_address = "0.0.0.0"
ops_port = "9090"
log_format = "json"
// The admin view of live sessions (admin/ under the base path, gotty-py-admin; see
// docs/operations.md) is off. To turn it on, give the container GOTTY_ADMIN_CREDENTIAL
// (user:pass) from a Secret rather than a key here, and keep admin/ off the public Ingress
// if administrators reach the console otherwise.

// SIGTERM: not ready, no new sessions, the open ones end with cleanup and audit within
// this many seconds; terminationGracePeriodSeconds (40) leaves 15 s of margin.
drain_timeout = 25

// One replica keeps used token ids in memory; the Redis component sets GOTTY_STORE
// (the environment overrides this file) for several replicas.
store = "memory"

// Behind an Ingress, set the controller's pod addresses so logs, audit and titles name
// the real client: trusted_proxies = "10.0.0.0/8"
