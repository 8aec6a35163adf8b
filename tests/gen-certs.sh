#!/bin/sh
# gen-certs.sh DIR: throw-away TLS material for the mock API (tests/mock_api.py).
#
#   DIR/ca.pem, ca.key              test CA
#   DIR/server.pem, server.key      server cert for localhost, 127.0.0.1, ::1, signed by the CA
#   DIR/server.pin                  curl pinned public key of the server: sha256//<base64>
#   DIR/other-ca.pem, other-ca.key  an unrelated CA, for "wrong CA" tests
#
# EC P-256 keys (fast to make), valid for 2 days.  Silent on success; on
# failure prints openssl's output and exits non-zero.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
mkdir -p "$dir"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# openssl chatters on stderr even on success; keep it for failures only.
run() {
    if ! "$@" >"$work/out" 2>&1; then
        echo "gen-certs.sh: failed: $*" >&2
        cat "$work/out" >&2
        exit 1
    fi
}

# An explicit config, so the result does not depend on the host's openssl.cnf
# (whose defaults for req -x509 vary between distributions).
cat >"$work/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# Keys private to the owner; certificates readable by a daemon running as
# another user.
umask 077

make_ca() { # make_ca NAME CN
    run openssl req -x509 -new -config "$work/openssl.cnf" -extensions ca_ext \
        -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
        -keyout "$dir/$1.key" -out "$dir/$1.pem" -days 2 -subj "/CN=$2"
    chmod 0644 "$dir/$1.pem"
}

make_ca ca "pam_neostra test CA"
make_ca other-ca "pam_neostra unrelated test CA"

run openssl req -new -config "$work/openssl.cnf" \
    -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
    -keyout "$dir/server.key" -out "$work/server.csr" -subj "/CN=localhost"
# A random serial instead of -CAcreateserial, which would leave ca.srl behind.
run openssl x509 -req -in "$work/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 2 \
    -extfile "$work/openssl.cnf" -extensions server_ext -out "$dir/server.pem"
chmod 0644 "$dir/server.pem"

# The form curl's --pinnedpubkey and libcurl's CURLOPT_PINNEDPUBLICKEY take.
run openssl x509 -in "$dir/server.pem" -noout -pubkey -out "$work/server.pub"
run openssl pkey -pubin -in "$work/server.pub" -outform der -out "$work/server.pub.der"
run openssl dgst -sha256 -binary -out "$work/server.pub.sha256" "$work/server.pub.der"
printf 'sha256//%s\n' "$(base64 -w0 <"$work/server.pub.sha256")" >"$dir/server.pin"
chmod 0644 "$dir/server.pin"

# Catch a broken chain here rather than as a puzzling test failure later.
run openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem"
