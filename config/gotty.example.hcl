// gotty-py configuration (HCL). Read from ~/.gotty when present, or --config FILE.
// Generated from gotty_py/options.py by `make docs`. Every option is listed with its
// default; uncomment a line to change it. Keys are case-insensitive.
// Environment variables (GOTTY_*) and flags override this file.

// IP address to listen on, or unix:/path for a Unix socket (see --unix-socket-mode); systemd socket activation (LISTEN_FDS) takes the place of both address and port.
// address = "0.0.0.0"

// Port number to listen on (0 picks a free port).
// port = "8080"

// Base path of every URL, e.g. /console/.
// path = "/"

// Permit clients to write to the TTY (be careful).
// permit_write = false

// Credential for Basic Authentication (user:pass); turns Basic auth on.
// credential = ""

// Require Basic Authentication (implied by a credential).
// enable_basic_auth = false

// Add a random string to the URL.
// enable_random_url = false

// Random URL length.
// random_url_length = 8

// Enable TLS/SSL.
// enable_tls = false

// TLS/SSL certificate file path.
// tls_crt_file = "~/.gotty.crt"

// TLS/SSL key file path.
// tls_key_file = "~/.gotty.key"

// TLS/SSL CA certificate file for client certifications; giving it turns client-certificate auth on.
// tls_ca_crt_file = "~/.gotty.ca.crt"

// Require client certificates signed by the CA in --tls-ca-crt.
// enable_tls_client_auth = false

// Custom index.html file (Go template with {{ .title }}).
// index_file = ""

// Title format of the browser window (GoTTY template variables: command, argv, hostname, remote_addr, pid; with launch tokens also user and claims).
// title_format = "{{ .command }}@{{ .hostname }}"

// Enable reconnection.
// enable_reconnect = false

// Time to reconnect, in seconds.
// reconnect_time = 10

// Seconds a session of gotty-py's page lives on, detached, after its connection is lost (not closed), for the page to resume it with the same process (0 = end at once, as GoTTY).
// detach_grace = 60

// Bytes of a session's recent output kept for a resuming page or a joining observer; while detached, the process is not read beyond this (nothing is lost).
// session_buffer = 262144

// Observers and moderators one session may have, joining with the owner's join link or a portal's join token (0 = sessions are not shared).
// max_observers = 0

// Maximum number of concurrent sessions (0 = unlimited).
// max_connection = 0

// Largest message, in bytes, a client may send before its session has started (the init: a launch token and the query); a bigger one is closed with 1009 before it is read. Input after the start may be up to 64 MiB.
// init_message_limit = 65536

// WebSocket connections one client address may hold open before their sessions have started; more get 429 (0 = no limit).
// handshake_concurrency = 64

// WebSocket handshakes one client address may make per minute (all at once, then evenly); more get 429 with Retry-After (0 = no limit).
// handshake_rate = 1200

// Accept only one client and exit when it disconnects.
// once = false

// Exit after this many seconds without clients (0 = never).
// timeout = 0

// Permit clients to append command-line arguments with ?arg=... (unsafe; prefer JWT launch tokens).
// permit_arguments = false

// Working directory of the command (must be a directory at start-up; default: the server's own).
// cwd = ""

// Exit (status 0) when the last client has left, once at least one session had started.
// exit_no_conn = false

// End a session after this many seconds without input from its client (close 1008 "idle for N s"; 0 = never).
// idle_timeout = 0

// End a session this many seconds after it started, whatever it does (close 1008; 0 = no limit).
// max_session_time = 0

// HMAC secret (at least 32 bytes) that verifies launch tokens given as ?jwt=...; turns JWT mode on. Visible in the process list: prefer --jwt-secret-file.
// jwt_secret = ""

// File holding the HMAC secret for launch tokens (trailing newlines ignored).
// jwt_secret_file = ""

// PEM public key (RSA, EC or Ed25519) or certificate that verifies launch tokens.
// jwt_public_key_file = ""

// JWKS file of public keys that verify launch tokens, chosen by the token's kid (key rotation).
// jwt_jwks_file = ""

// Accepted launch-token algorithms, comma-separated, one family (default: HS256 for a secret, the key's own for public keys).
// jwt_algorithms = ""

// Required aud claim of launch tokens (empty: tokens must have none).
// jwt_audience = ""

// Required iss claim of launch tokens (empty: not checked).
// jwt_issuer = ""

// Clock skew allowed for exp, nbf and iat, in seconds.
// jwt_leeway = 30

// Longest launch-token lifetime (exp - iat) accepted, in seconds; 0 = no limit and iat optional.
// jwt_max_lifetime = 300

// Required `typ` header of launch tokens (explicit typing, RFC 8725), e.g. gotty-launch+jwt, so that another JWT of the portal cannot be used here; empty: not checked.
// jwt_type = ""

// Refuse to start without a launch-token key: for a command that takes its arguments from the token (the Kubernetes recipe), which no session could run without one.
// jwt_required = false

// Pass the WebSocket request's headers to the command as HTTP_* environment variables (credentials, cookies and Proxy excepted).
// pass_headers = false

// Static width of the screen (0 = follow the browser).
// width = 0

// Static height of the screen (0 = follow the browser).
// height = 0

// Regular expression that matches the origins allowed to open the WebSocket (default: same origin only).
// ws_origin = ""

// Comma-separated host names (or patterns like *.example.com, optionally with :port) that the Host header may name besides the listener's own: loopback names on a loopback listener, this host's name and any IP address otherwise (DNS rebinding protection; '*' turns it off). Behind a proxy or Ingress, list the public name.
// allowed_hosts = ""

// Query string the page appends to the WebSocket URL (for an authenticating proxy).
// ws_query_args = ""

// Terminal name the page is told (config.js gotty_term).
// term = "xterm"

// Let the page use the WebGL renderer.
// enable_webgl = true

// Do not log.
// quiet = false

// Signal sent to the command when the session ends (number or name).
// close_signal = 1

// Seconds to wait after the close signal before SIGKILL (negative: 10).
// close_timeout = -1

// Start a watchdog process that ends the sessions' processes when the server dies, even by SIGKILL, and end at start-up the processes a dead gotty-py instance left (see docs/cleanup.md).
// watchdog = true

// Seconds a client may take to send its init message before it is dropped (0 = wait forever, as GoTTY).
// init_timeout = 10

// Seconds between WebSocket pings to each client; a client that stops answering is disconnected and its session ended (0 = no pings).
// ws_ping_interval = 20

// Seconds to wait for the answer to a ping (at most the ping interval).
// ws_ping_timeout = 20

// Command run after each session's process is gone, e.g. to end what it left inside a container; words may hold {session} {user} {remote_addr} {hostname} {date} {time} {command} {args} {arg0}.. {claim.NAME} (no shell is involved).
// cleanup_command = ""

// Seconds the cleanup command may run before it is killed.
// cleanup_timeout = 30

// What runs each session's command: local (a PTY on this machine) or kubernetes (pods/exec through the API server into the pod the launch token names).
// backend = "local"

// kubeconfig of the cluster for --backend kubernetes (default: $KUBECONFIG, then ~/.kube/config); exec plugins, client certificates and tokens work as with kubectl.
// k8s_kubeconfig = ""

// kubeconfig context (default: its current-context).
// k8s_context = ""

// Use the pod's own service account (KUBERNETES_SERVICE_HOST/PORT, its CA, its projected token, re-read when it rotates) instead of a kubeconfig.
// k8s_in_cluster = false

// Where --k8s-in-cluster finds token and ca.crt.
// k8s_service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Comma-separated namespaces a launch token may name (required with --backend kubernetes).
// k8s_namespaces = ""

// Label selector the target pod must match, e.g. app=web,console (equality-based; empty: any pod of the namespaces).
// k8s_pod_selector = ""

// Comma-separated command lines a token's k8s.command may ask for besides the server's command, e.g. "bash, sh, python3 -i" (words split as by a shell, no shell runs).
// k8s_commands = ""

// Exec as the token's user (Impersonate-User from sub, Impersonate-Group from the groups claim, the session id as a user extra) after a SubjectAccessReview; false: as the console's own account.
// k8s_impersonate = true

// Launch-token claim holding the user's groups (a list of strings) for impersonation.
// k8s_groups_claim = "groups"

// Seconds an API server request (pod, access review, opening the exec) may take.
// k8s_request_timeout = 10

// Seconds the cleanup in the pod (a second exec that ends what the session left there) may take; part of ending a session, so less than --drain-timeout.
// k8s_cleanup_timeout = 15

// Directory for session recordings (asciicast, one file per session; see --audit-format); empty: no recordings. See docs/audit.md.
// audit_dir = ""

// Recording file name under --audit-dir, from {date} {time} {session} {user} {remote_addr} {command} {hostname} {arg0} {arg1}... {claim.NAME}; each value is sanitized, '/' in the template makes directories.
// audit_file_name = "{date}/{user}/{time}-{session}.cast"

// Record the client's input too (input typed while the terminal does not echo, at a password prompt, is left out and marked).
// audit_input = false

// asciicast version of new recordings: v2, or v3 (interval times, the terminal object, the exit status as the last event; for asciinema 3 and its player).
// audit_format = "v2"

// Fail closed: refuse a session whose recording cannot be opened, end one whose recording cannot be written.
// audit_required = false

// JSON-lines log with one line per session start and end (empty: sessions.jsonl in --audit-dir).
// audit_event_log = ""

// Ed25519 signing key file (from gotty-py-audit keygen; not readable by others) that signs checkpoints of the event log; empty: no checkpoints.
// audit_checkpoint_key = ""

// A signed checkpoint after this many event-log lines.
// audit_checkpoint_lines = 100

// A signed checkpoint at least this often, even while idle.
// audit_checkpoint_seconds = 60

// Also append every checkpoint to this file (on another volume); empty: none.
// audit_checkpoint_copy = ""

// Also run this command with each checkpoint on its stdin (to ship it off the host; 10 s deadline; while one runs only the newest waiting checkpoint is kept).
// audit_checkpoint_command = ""

// Remove recordings and rolled event logs older than an age and/or beyond a total size, oldest first, e.g. 30d,10GiB (units s m h d w; B KiB MiB GiB TiB); the event log is rolled daily or at 64 MiB; empty: keep everything.
// audit_retention = ""

// Seconds a client may take none of the output queued for it before it is dropped as having stopped reading (the session ends as client-stalled); a client still reading, however slowly, gets all of it, the last output included.
// ws_send_timeout = 20

// IP address of the operations listener (/healthz, /readyz, /metrics).
// ops_address = "127.0.0.1"

// Port of the operations listener (0 picks a free port; empty: no operations listener).
// ops_port = ""

// Credential (user:pass) of the admin view of live sessions under the base path: admin/ (a page) and admin/api/sessions (JSON, for gotty-py-admin), which can end a session; empty: no admin routes. Must differ from --credential.
// admin_credential = ""

// Log line format: text, or json (one object per line, with the session id, user and client address where known).
// log_format = "text"

// Comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For header names the real client (in logs, audit and titles); ignored from any other peer.
// trusted_proxies = ""

// Request header (e.g. X-Forwarded-User) in which an authenticating reverse proxy names the user: believed only from --trusted-proxies peers, which must send it; it becomes the session's user (GOTTY_USER, titles, audit). Every request from another peer is refused (403). With launch tokens, the token's sub must equal it.
// auth_proxy_header = ""

// Permissions (octal) of the Unix socket that --address unix:/path creates.
// unix_socket_mode = "0600"

// Group (name or number) given the Unix socket that --address unix:/path creates (empty: the server's own).
// unix_socket_group = ""

// Seconds SIGTERM gives the open sessions to end, with their cleanup and audit, before cleanup hooks still running are killed and the server exits 0 (0 = no limit); must exceed the close timeout plus 5 s.
// drain_timeout = 25

// Where single-use launch-token ids and reconnect tickets are kept: memory (this process only) or a redis:// or rediss:// URL shared by every replica.
// store = "memory"

// Terminal preferences block (hterm-style keys, mapped onto xterm.js by the page).
// preferences {
//   font_size = 15
//   font_family = "monospace"
//   foreground_color = "#d0d0d0"
//   background_color = "#1c1c1c"
//   cursor_color = "#ffffff"
//   cursor_blink = true
// }

// What an unknown key in the config file does: error (refuse to start, with a did-you-mean) or warn (log it and go on, for a GoTTY config with keys gotty-py does not know).
// config_unknown_keys = "error"
