#!/usr/bin/env bash
# End to end under a real systemd: ullmd runs under packaging/systemd/unified-llm.service in a container
# (tests/packaging/systemd-container.sh), picks the systemd supervisor on its own, and serves a real llama-server as a
# transient unit: on-demand load through the OpenAI socket, the unit's sandbox and limits, its output in the journal
# and through `ullmctl logs`, then SIGKILL of ullmd — systemd restarts it and it adopts the running unit (same
# invocation, no reload) — a backend killed mid-stream (the client gets an error event, the next request reloads), a TTL
# unload, a generic backend (llama-server run from a command template) in a unit of its own, and a clean stop that
# stops the backends with it.
#
# Usage: tests/packaging/backends-in-systemd.sh BUILD_DIR LLAMA_SERVER MODEL_GGUF [ULLMD]
#   BUILD_DIR holds the built ullmd and ullmctl (apphosts and dlls).
#   ULLMD: the ullmd to run instead of BUILD_DIR's, e.g. the native build (Native AOT) that users install. The unit sets
#   MemoryDenyWriteExecute=true, under which only a native ullmd runs: a JIT build dies with SIGSEGV.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:?BUILD_DIR}"
llama_server="${2:?LLAMA_SERVER}"
model="${3:?MODEL_GGUF}"
ullmd="${4:-$build/ullmd}"
[[ -x "$ullmd" && -x "$build/ullmctl" && -x "$llama_server" && -f "$model" ]] \
  || { echo "backends-in-systemd.sh: FAIL: missing $ullmd, $build/ullmctl, $llama_server or $model"; exit 1; }

# shellcheck source=tests/packaging/ullmd-in-container.sh
. "$repo_root/tests/packaging/ullmd-in-container.sh"

fail_with_journal() {
  echo "backends-in-systemd.sh: $failures check(s) failed; the journal:"
  inside journalctl -o short-monotonic --no-pager | grep -v ' kernel: ' | tail -60
  exit 1
}

# Whether ullmd's journal shows a line matching $1 within 15 s (some lines follow a journal read of ullmd's own).
journal_shows() {
  for _ in $(seq 1 150); do
    inside journalctl -u unified-llm.service -o cat --no-pager | grep -q "$1" && return 0
    sleep 0.1
  done
  return 1
}

# Units hide /home and /root and have a private /tmp, and backends run as a dynamic user: everything they need is
# copied into the container's /run, readable by all.
test_dir=/run/ullm-test
mkdir -p "$CONTAINER_ROOT$test_dir"
chmod 755 "$CONTAINER_ROOT$test_dir"
cp -a "$build" "$CONTAINER_ROOT$test_dir/build"
cp -a "$(dirname "$ullmd")" "$CONTAINER_ROOT$test_dir/ullmd"
install -m 755 "$llama_server" "$CONTAINER_ROOT$test_dir/llama-server"
install -m 644 "$model" "$CONTAINER_ROOT$test_dir/tiny.gguf"
cat >"$CONTAINER_ROOT$test_dir/config.toml" <<EOF
[server]
tcp_listen = ""
admin_group = "users"

[backends.llamacpp]
executable = "$test_dir/llama-server"

[models.tiny]
backend = "llamacpp"
source = "$test_dir/tiny.gguf"
context = 16384

[models.brief]
backend = "llamacpp"
source = "$test_dir/tiny.gguf"
context = 512
ttl_seconds = 2

[backends.generic-llama]
kind = "generic"
command = ["$test_dir/llama-server", "-m", "\${MODEL_PATH}", "--host", "\${HOST}", "--port", "\${PORT}", "-c", "\${CTX}", "--reranking"]
endpoints = ["chat", "rerank"]

[models.gen]
backend = "generic-llama"
source = "$test_dir/tiny.gguf"
context = 512
memory_mib = 300
EOF
install_ullmd_unit "$test_dir/ullmd/$(basename "$ullmd") --config $test_dir/config.toml"

started=$SECONDS
check "ullmd starts under its packaged unit" timeout 300 nsenter -t "$CONTAINER_PID" -m -p -- systemctl start unified-llm.service
echo "   started in $((SECONDS - started)) s"
((failures == 0)) || fail_with_journal
check "ullmd chose the systemd supervisor" journal_shows 'backends run as transient systemd units'

check "ullmctl status names the systemd supervisor" bash -c \
  "nsenter -t $CONTAINER_PID -m -p -- $test_dir/build/ullmctl status | grep -q '^supervisor  systemd$'"
socket="$CONTAINER_ROOT/run/unified-llm/openai.sock"
chat() {
  curl --silent --show-error --max-time 300 --unix-socket "$socket" http://localhost/v1/chat/completions \
    -H 'content-type: application/json' \
    -d "{\"model\":\"${1:-tiny}\",\"max_tokens\":${2:-8},\"stream\":true,${3:-}\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}"
}
first="$(chat || true)"
check "a streamed chat completion loads tiny on demand and ends with [DONE]" grep -q '^data: \[DONE\]' <<<"$first"
check "the stream carried content" grep -q '"content":"[^"]' <<<"$first"

units() { inside systemctl list-units --plain --no-legend --type=service "ullm-${1:-}*" | awk '{print $1}'; }
unit="$(units | head -1)"
check "exactly one backend unit runs" test "$(units | wc -l)" = 1
unit_property() { inside systemctl show -p "$1" --value "$unit"; }
check "the backend unit is active in ullm.slice" test "$(unit_property ActiveState) $(unit_property Slice)" = "active ullm.slice"
check "the backend runs as a dynamic user" test "$(unit_property DynamicUser)" = yes
check "the backend has a memory limit" bash -c "[ '$(unit_property MemoryMax)' != infinity ]"
check "the backend may open no device (no GPU here)" test "$(unit_property DevicePolicy)" = closed
fields="$(unit_property LogExtraFields)"
check "the backend's model is in its journal fields" grep -qw "ULLM_MODEL=tiny" <<<"$fields"
check "the backend carries this ullmd's owner mark" grep -Eqw "ULLM_OWNER=d[0-9a-f]{12}" <<<"$fields"
check "llama-server's output is in the journal" bash -c \
  "nsenter -t $CONTAINER_PID -m -p -- journalctl -u $unit -o cat --no-pager | grep -q 'listening on http'"
check "ullmctl logs shows it" bash -c \
  "nsenter -t $CONTAINER_PID -m -p -- $test_dir/build/ullmctl logs tiny -n 200 | grep -q 'listening on http'"
invocation="$(unit_property InvocationID)"
backend_pid="$(unit_property MainPID)"

check "SIGKILL of ullmd" inside systemctl kill --signal=SIGKILL unified-llm.service
# Restart=on-failure with RestartSec=5s: wait for the new ullmd to be up again.
restarted=false
for _ in $(seq 1 300); do
  if [[ "$(inside systemctl show -p ActiveState --value unified-llm.service)" == active && -S "$socket" ]] \
    && curl --silent --max-time 2 --unix-socket "$socket" http://localhost/health >/dev/null; then
    restarted=true
    break
  fi
  sleep 1
done
check "systemd restarted ullmd" $restarted
check "the backend unit survived ullmd's death unchanged" test "$(unit_property InvocationID) $(unit_property MainPID)" = "$invocation $backend_pid"
second="$(chat || true)"
check "the restarted ullmd serves tiny" grep -q '^data: \[DONE\]' <<<"$second"
check "it adopted the running backend instead of starting another" \
  test "$(units | wc -l) $(unit_property InvocationID)" = "1 $invocation"
check "the adoption is in ullmd's journal" journal_shows 'adopted'

# With its end token ignored (a llama-server option ullmd passes through) the model streams until its 16k context is
# full, which takes seconds: the completion is still streaming when its backend is killed.
chat tiny 100000 '"ignore_eos":true,' >"$state/killed.sse" 2>&1 &
streaming=$!
for _ in $(seq 1 600); do grep -q '"content":"[^"]' "$state/killed.sse" 2>/dev/null && break; sleep 0.1; done
check "SIGKILL of the backend mid-stream" inside systemctl kill --signal=SIGKILL "$unit"
wait $streaming || true
echo "   the killed stream: $(wc -c <"$state/killed.sse") bytes, ends with: $(tail -c 300 "$state/killed.sse" | tr "\n" " ")"
check "the client got an error event for the killed backend" grep -q '"error"' "$state/killed.sse"
check "the killed stream did not end with [DONE]" bash -c "! grep -q '^data: \[DONE\]' '$state/killed.sse'"
check "ullmd logged the crash with the backend's last output" \
  journal_shows 'failure: tiny: backend exited: killed by signal 9 (SIGKILL).*; last output: '
third="$(chat || true)"
check "the next request reloads tiny" grep -q '^data: \[DONE\]' <<<"$third"
unit="$(units tiny | head -1)"
check "as a new unit" bash -c "[ -n '$unit' ] && [ '$(unit_property InvocationID)' != '$invocation' ]"

brief="$(chat brief || true)"
check "brief loads on demand" grep -q '^data: \[DONE\]' <<<"$brief"
unloaded=false
for _ in $(seq 1 100); do [[ -z "$(units brief)" ]] && { unloaded=true; break; }; sleep 0.2; done
check "brief is unloaded after its 2 s TTL" $unloaded
check "its unload is in ullmd's journal" journal_shows 'unload: brief: stopped (idle for 2 s (ttl))'

rerank="$(curl --silent --show-error --max-time 300 --unix-socket "$socket" http://localhost/v1/rerank \
  -H 'content-type: application/json' -d '{"model":"gen","query":"hello","documents":["a","b hello"]}' || true)"
check "a generic backend (llama-server by its command template) loads on demand and reranks" grep -q '"relevance_score"' <<<"$rerank"
unit="$(units gen | head -1)"
check "the generic backend is a unit of its own in ullm.slice" test "$(unit_property ActiveState) $(unit_property Slice)" = "active ullm.slice"
check "it runs as a dynamic user with a memory limit and no device" \
  test "$(unit_property DynamicUser) $(unit_property DevicePolicy) $([ "$(unit_property MemoryMax)" != infinity ] && echo limited)" = "yes closed limited"
check "its footprint was measured for later plans" journal_shows 'gen: measured footprint: host'

check "systemctl stop unified-llm succeeds" inside systemctl stop unified-llm.service
check "stopping ullmd stopped its backend (stop_backends_on_exit)" test -z "$(units)"

((failures == 0)) || fail_with_journal
echo "backends-in-systemd.sh: ullmd serves llama-server as a transient unit and adopts it after SIGKILL"
