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
cleanup_command = "examples/kubernetes/kube-cleanup.sh {arg0} {arg1} {arg2} {session}"
cleanup_timeout = 30

// Notice a vanished browser (laptop lid, network cut) within about 45 s.
ws_ping_interval = 20
ws_ping_timeout = 20
init_timeout = 10
