// gotty-py as a Kubernetes web console with JWT launch tokens (docs/jwt.md).
//
//   gotty-py --config config/jwt.example.hcl kubectl
//
// A portal that knows the user signs the kubectl arguments into a token and sends the
// browser to https://console.example/?jwt=TOKEN; gotty-py runs `kubectl ARGS...` with
// exactly the signed arguments. ?arg= in the URL is ignored. Written by hand; every key
// is described in docs/options.md. Keys given as GOTTY_* variables or flags win.

address = "0.0.0.0"
port = "8080"
permit_write = true

// Exactly one key source. Production: the portal's public keys as a JWKS, so the console
// can verify tokens but never mint them; list the old and the new kid during a rotation.
jwt_jwks_file = "/etc/gotty/console-jwks.json"
// jwt_public_key_file = "/etc/gotty/portal-es256.pub.pem"   // one PEM key (RSA, EC, Ed25519)
// jwt_secret_file = "/etc/gotty/jwt-secret"                 // HMAC, at least 32 random bytes

// One family only; `none` is never accepted. Default: the keys' own (HS256 for a secret).
jwt_algorithms = "ES256"

// The token must name this console and come from this portal.
jwt_audience = "console"
jwt_issuer = "portal"

// Clock skew allowed, and the longest exp - iat accepted (seconds).
jwt_leeway = 30
jwt_max_lifetime = 120

// Who is connected, and to what: `user` is the token's sub, `claims` all of its claims.
title_format = "{{ .user }}: {{ .claims.ns }}/{{ .claims.pod }}"
