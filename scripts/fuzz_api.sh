#!/usr/bin/env bash
# Fuzzes the HTTP API with schemathesis (from PyPI) against /v1/openapi.json: a real
# `lockstep serve` on a free loopback port over the demo fleet, an operator token, and the
# check that matters here: no answer is a 5xx. The event stream (/v1/events) never ends, so it
# is left out; it has its own tests (tests/api_stream.rs). Afterwards the server must still be
# healthy and its journal readable.
#
# FUZZ_EXAMPLES (default 40) sets examples per operation; FUZZ_VENV where schemathesis lives.
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${FUZZ_EXAMPLES:-40}"
target="${CARGO_TARGET_DIR:-target}"
venv="${FUZZ_VENV:-$target/fuzz-venv}"

echo "== schemathesis"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis>=4.3,<5"
fi
"$venv/bin/schemathesis" --version

echo "== build"
cargo build --quiet
bin="$target/debug/lockstep"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" demo init --db "$work/fuzz.db" --force >/dev/null
token="fuzz-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf 'fuzzer, operator, %s\n' "$(printf %s "$token" | sha256sum | cut -d' ' -f1)" > "$work/tokens"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"

"$bin" serve --listen "127.0.0.1:$port" --db "$work/fuzz.db" --tokens "$work/tokens" >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$url/healthz" >/dev/null

echo "== fuzz $url/v1/openapi.json ($examples examples per operation)"
status=0
"$bin" --version >/dev/null
"$venv/bin/schemathesis" run "$url/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error \
  --exclude-path /v1/events \
  --max-examples "$examples" \
  --request-timeout 30 \
  --seed 7 \
  --no-color || status=$?

echo "== the server survived"
curl -fsS "$url/healthz"; echo
curl -fsS -H "Authorization: Bearer $token" "$url/v1/history?limit=1" >/dev/null
if grep -q "$token" "$work/serve.log"; then
  echo "the token appears in the server's output" >&2
  exit 1
fi
fuzz_5xx="$(curl -fsS -H "Authorization: Bearer $token" "$url/metrics" | grep -E 'status="5[0-9][0-9]"' || true)"
if [ -n "$fuzz_5xx" ]; then
  echo "5xx answers counted by the server:" >&2
  echo "$fuzz_5xx" >&2
  exit 1
fi
echo "no 5xx"
exit "$status"
