#!/bin/sh
# pam-exec-curl.sh URL EMAIL_DOMAIN [CA_FILE]: the "pam_exec + curl"
# baseline of `make bench` (tests/bench/bench.sh), as a site would write it:
#
#   auth    required pam_exec.so expose_authtok quiet /path/pam-exec-curl.sh URL example.com
#   account required pam_permit.so
#
# pam_exec gives the password on stdin (maybe NUL-terminated) and the login
# name in PAM_USER.  It is POSTed as {"email": PAM_USER@EMAIL_DOMAIN,
# "password": ...} with curl; the password goes to curl through a pipe,
# never on a command line.  Exit 0 only on HTTP 200 with a body that says
# "status": 200 and names the email; anything else fails the login.
set -u
url=${1:?usage: pam-exec-curl.sh URL EMAIL_DOMAIN [CA_FILE]}
domain=${2:?usage: pam-exec-curl.sh URL EMAIL_DOMAIN [CA_FILE]}
ca=${3:-}
user=${PAM_USER:?PAM_USER is not set}
case $user in
*[!A-Za-z0-9._-]*|'') exit 1 ;;
esac
email=$user@$domain

# Everything up to EOF or the first NUL; printf and read are shell
# built-ins, so the password is never in any process's argv.
pw=$(tr -d '\000' | head -c 512) || exit 1
[ -n "$pw" ] || exit 1
# JSON string escaping of \ and " (sed reads it from the pipe).
pw_json=$(printf '%s' "$pw" | sed 's/[\\"]/\\&/g')
pw=

set -- --silent --show-error --max-time 10 --proto =http,https \
        -H 'Content-Type: application/json' -H 'Accept: application/json' -H 'Expect:' \
        --data-binary @- --write-out '\n%{http_code}'
[ -n "$ca" ] && set -- "$@" --cacert "$ca"
out=$(printf '{"email":"%s","password":"%s"}' "$email" "$pw_json" | curl "$@" "$url") || exit 1
pw_json=
code=${out##*
}
body=${out%
*}
[ "$code" = 200 ] || exit 1
case $body in
*'"status":200'*|*'"status": 200'*) ;;
*) exit 1 ;;
esac
case $body in
*"\"email\":\"$email\""*|*"\"email\": \"$email\""*) exit 0 ;;
esac
exit 1
