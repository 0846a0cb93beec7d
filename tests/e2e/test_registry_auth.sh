#!/usr/bin/env bash
# Registry authentication and TLS: htpasswd basic auth with login/logout
# (docker's config.json, a credential helper stub), the bearer-token flow
# with a token server made here, and HTTPS with a CA and client
# certificates made here by openssl (found through $KILN_CERTS_DIR).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/registry_lib.sh"
command -v openssl >/dev/null || skip_all "openssl not installed"
export DOCKER_CONFIG="$T/docker"
export KILN_CERTS_DIR="$T/certs.d"
PASS='s3cret-Pa55-kiln'

# --- basic auth (htpasswd, bcrypt) -------------------------------------------
python3 - "$PASS" >"$T/htpasswd" <<'PY' 2>/dev/null || skip_all "no bcrypt in python3's crypt"
import crypt, sys
print("alice:" + crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))
PY
start_registry basic "auth:
  htpasswd:
    realm: kiln-test
    path: $T/htpasswd" || { not_ok "registry with htpasswd starts"; exit 1; }
B=$REG_basic
mkctx "$T/c1" one
run_ok "import" kiln import "$T/c1" "$B/img:1"
run_fail "anonymous push is refused" 1 kiln push "$B/img:1"
expect_contains "anonymous push names the cause as docker does" "$OUT" "no basic auth credentials"
run_fail "anonymous pull is refused" 1 kiln --root "$T/r0" pull "$B/img:1"
expect_contains "anonymous pull message as docker's" "$OUT" "Get \"http://$B/v2/img/manifests/1\": no basic auth credentials"
run_fail "login with a wrong password" 1 sh -c "echo wrong | '$KILN' login -u alice --password-stdin $B"
expect_contains "wrong password message" "$OUT" "login attempt to http://$B/v2/ failed with status: 401 Unauthorized"
[ ! -e "$DOCKER_CONFIG/config.json" ] && ok "a failed login stores nothing" || not_ok "config.json written"
run_ok "login" sh -c "printf '%s\n' '$PASS' | '$KILN' login -u alice --password-stdin $B"
expect_contains "login succeeded" "$OUT" "Login Succeeded"
expect_contains "docker's warning names config.json" "$OUT" "WARNING! Your password will be stored unencrypted in $DOCKER_CONFIG/config.json."
expect_eq "config.json is mode 0600" "$(stat -c %a "$DOCKER_CONFIG/config.json")" 600
expect_eq "config.json holds docker's auth" \
	"$(python3 -c 'import json,sys,base64; print(base64.b64decode(json.load(open(sys.argv[1]))["auths"][sys.argv[2]]["auth"]).decode())' "$DOCKER_CONFIG/config.json" "$B")" "alice:$PASS"
run_ok "push with stored credentials" kiln -D push "$B/img:1"
expect_not_contains "the password is not in -D output" "$OUT" "$PASS"
run_ok "pull with stored credentials" kiln --root "$T/r2" pull "$B/img:1"
if grep -rqF -- "$PASS" "$ROOT" "$T/r2"; then not_ok "password found in a kiln file"; else ok "password in no kiln file"; fi
run_ok "logout" kiln logout "$B"
expect_eq "logout message" "$OUT" "Removing login credentials for $B"
run_fail "pull after logout is refused" 1 kiln --root "$T/r3" pull "$B/img:1"
run_ok "logout again" kiln logout "$B"
expect_eq "logout when not logged in (as docker 20.10)" "$OUT" "Removing login credentials for $B"

# a credential helper: the password travels on stdin, never in argv
mkdir -p "$T/bin"
cat >"$T/bin/docker-credential-kilntest" <<HELPER
#!/bin/sh
echo "\$@" >>"$T/helper.argv"
case "\$1" in
store) cat >"$T/helper.store" ;;
get) read -r server; python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps({"ServerURL": d["ServerURL"], "Username": d["Username"], "Secret": d["Secret"]}))' "$T/helper.store" ;;
erase) rm -f "$T/helper.store" ;;
esac
HELPER
chmod +x "$T/bin/docker-credential-kilntest"
echo '{"credsStore": "kilntest"}' >"$DOCKER_CONFIG/config.json"
run_ok "login through a credential helper" env PATH="$T/bin:$PATH" sh -c "printf '%s\n' '$PASS' | '$KILN' login -u alice --password-stdin $B"
[ -s "$T/helper.store" ] && ok "the helper stored the credentials" || not_ok "helper not called"
expect_not_contains "no unencrypted-password warning with a helper" "$OUT" "stored unencrypted"
if grep -qF -- "$PASS" "$DOCKER_CONFIG/config.json"; then not_ok "password in config.json with a helper"; else ok "config.json holds no password with a helper"; fi
run_ok "pull with the helper's credentials" env PATH="$T/bin:$PATH" "$KILN" --root "$T/r4" pull "$B/img:1"
if grep -qF -- "$PASS" "$T/helper.argv"; then not_ok "password in the helper's argv"; else ok "password not in the helper's argv"; fi
run_ok "logout through the helper" env PATH="$T/bin:$PATH" "$KILN" logout "$B"
[ ! -e "$T/helper.store" ] && ok "the helper erased the credentials" || not_ok "helper erase not called"
rm -f "$DOCKER_CONFIG/config.json"

# --- bearer tokens --------------------------------------------------------------
start_token_registry token 300 alice "$PASS" || { not_ok "registry with token auth starts"; exit 1; }
K=$REG_token
run_ok "import for the token registry" kiln tag "$B/img:1" "$K/img:1"
run_fail "token registry: anonymous push refused" 1 kiln push "$K/img:1"
run_ok "token registry: login" sh -c "printf '%s\n' '$PASS' | '$KILN' login -u alice --password-stdin $K"
: >"$T/token.count"
run_ok "token registry: push" kiln push "$K/img:1"
expect_eq "push fetched one token for its scope" "$(cat "$T/token.count")" "repository:img:pull,push"
: >"$T/token.count"
run_ok "token registry: pull" kiln --root "$T/r5" pull "$K/img:1"
expect_eq "pull fetched one token for its scope" "$(cat "$T/token.count")" "repository:img:pull"

# a token that expires in the middle of a pull: the registry answers the
# next blob GET with 401, kiln gets a new token once and goes on
start_token_registry short 2 alice "$PASS" || { not_ok "registry with short tokens starts"; exit 1; }
start_proxy proxy "$REG_short"
P=$P_proxy
run_ok "short tokens: login" sh -c "printf '%s\n' '$PASS' | '$KILN' login -u alice --password-stdin $P"
run_ok "short tokens: tag" kiln tag "$B/img:1" "$P/img:1"
run_ok "short tokens: push" kiln push "$P/img:1"
LAYER=$(kiln manifest inspect "$P/img:1" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')
echo "delay $LAYER 4" >"$T/proxy.mode"
: >"$T/short.count"
run_ok "a token expiring mid-pull is renewed" kiln -D --root "$T/r5b" pull "$P/img:1"
expect_contains "the blob's 401 got a new token" "$OUT" "registry: $LAYER: new token after a 401"
expect_eq "two tokens for the pull's scope" "$(grep -c 'repository:img:pull$' "$T/short.count")" 2
expect_eq "the image arrived whole" "$(kiln --root "$T/r5b" inspect -f '{{.Id}}' "$P/img:1")" \
	"$(kiln inspect -f '{{.Id}}' "$P/img:1")"

# --- TLS ---------------------------------------------------------------------------
cd "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt \
	-days 2 -subj /CN=kiln-test-ca >/dev/null 2>&1
mkcert() { # NAME EXT
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" \
		-subj "/CN=$1" >/dev/null 2>&1
	printf '%s\n' "$2" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 2 \
		-extfile "$1.ext" >/dev/null 2>&1
}
mkcert server "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
mkcert client "extendedKeyUsage=clientAuth"
cd - >/dev/null
start_registry tls "  tls:
    certificate: $T/server.crt
    key: $T/server.key" || { not_ok "TLS registry starts"; exit 1; }
S=$REG_tls
run_ok "tag for the TLS registry" kiln tag "$B/img:1" "$S/img:1"
run_fail "an unknown CA is refused" 1 kiln push "$S/img:1"
expect_contains "the error names the certificate problem" "$OUT" "certificate"
mkdir -p "$KILN_CERTS_DIR/$S"
cp "$T/ca.crt" "$KILN_CERTS_DIR/$S/ca.crt"
run_ok "push over TLS with the certs.d CA" kiln push "$S/img:1"
run_ok "pull over TLS with the certs.d CA" kiln --root "$T/r6" pull "$S/img:1"
rm -rf "$KILN_CERTS_DIR/$S"
run_ok "--insecure-registry skips verification" kiln --root "$T/r7" pull --insecure-registry "$S" "$S/img:1"
printf '{"insecure-registries": ["%s"]}\n' "$S" >"$T/kiln-config.json"
run_ok "kiln's config file lists insecure registries" env KILN_CONFIG="$T/kiln-config.json" \
	"$KILN" --root "$T/r8" pull "$S/img:1"
run_fail "without it the CA is still required" 1 kiln --root "$T/r8" pull "$S/img:1"

start_registry mtls "  tls:
    certificate: $T/server.crt
    key: $T/server.key
    clientcas:
      - $T/ca.crt" || { not_ok "mutual TLS registry starts"; exit 1; }
M=$REG_mtls
mkdir -p "$KILN_CERTS_DIR/$M"
cp "$T/ca.crt" "$KILN_CERTS_DIR/$M/ca.crt"
run_ok "tag for the mutual TLS registry" kiln tag "$B/img:1" "$M/img:1"
run_fail "no client certificate is refused" 1 kiln push "$M/img:1"
cp "$T/client.crt" "$KILN_CERTS_DIR/$M/client.cert"
cp "$T/client.key" "$KILN_CERTS_DIR/$M/client.key"
run_ok "push with the client certificate" kiln push "$M/img:1"
