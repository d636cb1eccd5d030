// gotty-py as the cluster's web console with the native kubernetes backend
// (deploy/overlays/native, docs/kubernetes.md). Replaces deploy/base/gotty.hcl in the
// ConfigMap the Deployment mounts at /etc/gotty/config/gotty.hcl; it works as shipped.
//
// Each session is a pods/exec into the pod the signed launch token's `k8s` claim names
// (namespace, pod, container, command), made by gotty-py as the token's user after a
// SubjectAccessReview; when the session ends, for whatever reason, a second exec ends
// the shell and everything it started inside the container. No kubectl, no scripts.

address = "0.0.0.0"
port = "8080"
// DNS rebinding protection: the Host header must name a host this server serves. Behind
// the Ingress the Host is the console's public name, which must be listed:
// allowed_hosts = "console.example.com"
permit_write = true
// Each session is a WebSocket to the API server, not a process: far less memory than a
// kubectl per session.
max_connection = 64

// Launch tokens (docs/jwt.md). The console holds only the portal's public keys, a JWKS
// from the Secret gotty-console-jwks (deploy/keys/console-jwks.json); the portal signs
// the target (`examples/portal/portal.py serve --args native`).
jwt_jwks_file = "/etc/gotty/jwks/console-jwks.json"
jwt_required = true
jwt_algorithms = "ES256"
jwt_audience = "console"
jwt_issuer = "portal"
jwt_max_lifetime = 120
title_format = "{{ .user }}: {{ .namespace }}/{{ .pod }}"

// The backend: this pod's service account (token re-read when the kubelet rotates it).
backend = "kubernetes"
k8s_in_cluster = true
// The namespaces with a targets/ directory, and the pods of them users may enter.
k8s_namespaces = "team-a"
k8s_pod_selector = ""
// The command is the server's (the positional `bash` of the Deployment's args) unless the
// token's k8s.command names one of these. bash falls back to sh in a container without it.
k8s_commands = "bash, sh"
// As the user (Impersonate-User/-Group, the session id as a user extra), after an access
// review. false: the console's own account execs (it then needs pods/exec, like deploy/).
k8s_impersonate = true
k8s_groups_claim = "groups"
k8s_request_timeout = 10
// The cleanup exec in the pod; k8s_cleanup_timeout plus 5 s fit within drain_timeout.
k8s_cleanup_timeout = 15

// Notice a vanished browser (laptop lid, network cut) within about 45 s.
ws_ping_interval = 20
ws_ping_timeout = 20
init_timeout = 10

// Every session recorded, fail closed (docs/audit.md). The event log's cleanup line of
// each session is the in-pod cleanup's outcome.
audit_dir = "/var/lib/gotty/audit"
audit_file_name = "{date}/{user}/{time}-{session}.cast"
audit_required = true

// Probes and metrics on their own listener, outside the Service and any Ingress.
ops_address = "0.0.0.0"
ops_port = "9090"
log_format = "json"

// SIGTERM: not ready, no new sessions, the open ones end with cleanup and audit within
// this many seconds; terminationGracePeriodSeconds (40) leaves 15 s of margin.
drain_timeout = 25

store = "memory"
