# Sourced (needs $repo_root) by the tests that run ullmd under its packaged unit in a real systemd: boots a container
# (tests/packaging/systemd-container.sh) into $state, stopped and removed on exit, and defines
#   inside CMD...             run CMD in the container's mount and PID namespaces
#   check WHAT CMD...         run CMD, print "ok: WHAT" or "FAIL: WHAT" and count failures in $failures
#   install_ullmd_unit CMD    packaging/systemd/unified-llm.service with ExecStart=CMD, plus ullm.slice, loaded
state="$(mktemp -d)"
cleanup() {
  "$repo_root/tests/packaging/systemd-container.sh" stop "$state" || true
  rm -rf "$state"
}
trap cleanup EXIT

"$repo_root/tests/packaging/systemd-container.sh" start "$state"
# shellcheck source=/dev/null
. "$state/env"
inside() { nsenter -t "$CONTAINER_PID" -m -p -- "$@"; }

failures=0
check() {
  local what="$1"
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}

install_ullmd_unit() {
  sed "s|^ExecStart=.*|ExecStart=$1|" "$repo_root/packaging/systemd/unified-llm.service" \
    >"$CONTAINER_ROOT/run/systemd/system/unified-llm.service"
  cp "$repo_root/packaging/systemd/ullm.slice" "$CONTAINER_ROOT/run/systemd/system/ullm.slice"
  inside systemctl daemon-reload
}
