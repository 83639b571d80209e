#!/usr/bin/env bash
# Runs README's main command, packaging/quickstart.sh, as a user would (root, no model given), and checks its demo:
# ullmd ready on its default sockets, a streamed chat through /run/unified-llm/openai.sock that carries content and ends
# with [DONE], `ullmctl status` with the model loaded; then stops it as Ctrl-C would end the script (the script's exit
# stops ullmd with SIGTERM) and checks that ullmd, its llama-server and its sockets are gone.
# Usage: sudo bash tests/packaging/quickstart-check.sh   (.ci/run runs it after the tests)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log="$(mktemp "${TMPDIR:-/tmp}/ullm-quickstart.XXXXXX")"
failures=0
check() {
  local what="$1"
  shift
  if "$@"; then
    echo "passed: $what"
  else
    echo "FAILED: $what"
    failures=$((failures + 1))
  fi
}
fail() {
  echo "quickstart-check.sh: FAIL: $*; the script's output:"
  cat "$log"
  exit 1
}

if [[ -e /run/unified-llm/openai.sock ]]; then
  fail "/run/unified-llm/openai.sock exists: another ullmd serves the default sockets here; stop it first"
fi

bash "$repo_root/packaging/quickstart.sh" >"$log" 2>&1 &
script=$!
deadline=$((SECONDS + 1500))
until grep -q "Ctrl-C stops it" "$log"; do
  kill -0 "$script" 2>/dev/null || fail "quickstart.sh exited before its demo ended"
  ((SECONDS < deadline)) || { kill "$script"; fail "quickstart.sh did not finish its demo within 25 minutes"; }
  sleep 1
done

check "the streamed chat carried content" grep -q '^data: {.*"delta":{"content":"' "$log"
check "the streamed chat ended with [DONE]" grep -q '^data: \[DONE\]' "$log"
check "ullmctl status shows the model loaded" grep -Eq '^models +1 configured, 1 loaded' "$log"
ullmd_pid="$(pgrep -f -- "unified-llm/quickstart/ullmd/ullmd --config" | head -1 || true)"
backend_pid="$(pgrep -f -- "/var/lib/unified-llm-quickstart/llama-server" | head -1 || true)"
check "ullmd runs" test -n "$ullmd_pid"
check "its llama-server runs" test -n "$backend_pid"

# Ctrl-C ends the script; its exit trap stops ullmd. A background job of a script ignores SIGINT, so the script is
# ended here with SIGTERM, which takes the same way out.
kill -TERM "$script"
wait "$script" 2>/dev/null || true
gone() { for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
[[ -z "$ullmd_pid" ]] || check "ullmd stopped with the script" gone "$ullmd_pid"
[[ -z "$backend_pid" ]] || check "its llama-server stopped with it" gone "$backend_pid"
check "the default sockets are gone" test ! -e /run/unified-llm/openai.sock

if ((failures > 0)); then
  echo "quickstart-check.sh: $failures check(s) failed; the script's output:"
  cat "$log"
  exit 1
fi
rm -f "$log"
echo "quickstart-check.sh: README's quick start served a real model end to end"
