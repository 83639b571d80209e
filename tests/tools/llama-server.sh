#!/usr/bin/env bash
# Prints the absolute path of a usable llama-server on stdout; all progress goes to stderr.
# With --rpc-server it prints the path of the ggml-rpc-server beside that llama-server instead
# (llama.cpp's RPC worker, built with -DGGML_RPC=ON), and fails naming the directory if there is none.
#
# Lookup order:
#   1. $ULLM_LLAMA_SERVER, if set (must be executable);
#   2. llama-server on PATH;
#   3. a cached build in ${XDG_CACHE_HOME:-$HOME/.cache}/unified-llm/llama-server/<node-llama-cpp>-<llama.cpp tag>-rpc/;
#   4. otherwise builds it once into that cache from the llama.cpp source that the npm package
#      node-llama-cpp ships as a git bundle (no other network access than the npm registry).
#
# Concurrent callers serialise on a lock file; the binary is moved into place atomically, so a
# caller never sees a half-written executable.
set -euo pipefail

# node-llama-cpp and the llama.cpp release it bundles are pinned together: the cache directory
# is named after both, and the build stops if the package's llama.cpp.info.json disagrees.
readonly NODE_LLAMA_CPP_VERSION="3.22.1"
readonly LLAMA_CPP_TAG="v0.5.0"
# Bumped when the build's options change, so that caches built without them are rebuilt.
readonly BUILD_FLAVOUR="rpc"

log() { printf 'llama-server.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

want_rpc_server=false
case "${1:-}" in
  "") ;;
  --rpc-server) want_rpc_server=true ;;
  *) die "unknown argument '$1' (the only option is --rpc-server)" ;;
esac

# Prints the answer for the llama-server found at $1 and exits.
answer() {
  local server
  server="$(realpath "$1")"
  if [[ "$want_rpc_server" == false ]]; then
    printf '%s\n' "$server"
    exit 0
  fi
  local rpc_server
  rpc_server="$(dirname "$server")/ggml-rpc-server"
  [[ -x "$rpc_server" ]] ||
    die "no ggml-rpc-server beside $server (llama.cpp built without -DGGML_RPC=ON; unset ULLM_LLAMA_SERVER to use this script's build)"
  printf '%s\n' "$rpc_server"
  exit 0
}

# A binary is usable when it runs and reports a llama.cpp version ("version: N (build N, commit X)");
# this also catches a build for another CPU.
usable() {
  local reported
  [[ -x "$1" ]] && reported="$("$1" --version 2>&1)" && grep -q '^version: .*(build [0-9]*, commit ' <<<"$reported"
}

if [[ -n "${ULLM_LLAMA_SERVER:-}" ]]; then
  usable "$ULLM_LLAMA_SERVER" || die "ULLM_LLAMA_SERVER=$ULLM_LLAMA_SERVER is not a usable llama-server (--version reports no llama.cpp version)"
  answer "$ULLM_LLAMA_SERVER"
fi

if on_path="$(command -v llama-server)"; then
  if usable "$on_path"; then
    answer "$on_path"
  fi
  log "ignoring $on_path on PATH: --version reports no llama.cpp version"
fi

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/unified-llm/llama-server"
cache_dir="$cache_root/$NODE_LLAMA_CPP_VERSION-$LLAMA_CPP_TAG-$BUILD_FLAVOUR"
cached="$cache_dir/llama-server"
cached_rpc="$cache_dir/ggml-rpc-server"

# The cache is complete when both binaries are there; llama-server is moved in last.
complete() { [[ -x "$cached_rpc" ]] && usable "$cached"; }

if complete; then
  answer "$cached"
fi

ensure_build_tools() {
  local -A package_of=([cmake]=cmake [make]=make [g++]=g++ [git]=git [npm]=npm [tar]=tar)
  local missing=() tool
  for tool in "${!package_of[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    die "missing build tools: ${missing[*]} (install them, or set ULLM_LLAMA_SERVER to an existing llama-server)"
  fi
  log "installing ${missing[*]} with apt-get"
  apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
    { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; } ||
    die "apt-get could not install ${missing[*]}"
}

# Copies next to the target first: mv is atomic only within one file system.
install_atomically() {
  local staged
  staged="$(mktemp "$(dirname "$2")/.$(basename "$2").XXXXXX")"
  cp "$1" "$staged"
  chmod 0755 "$staged"
  mv -f "$staged" "$2"
}

build_into_cache() {
  local work="$1"
  local started=$SECONDS

  log "fetching node-llama-cpp@$NODE_LLAMA_CPP_VERSION (it ships the llama.cpp source)"
  (cd "$work" && npm pack --silent "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >/dev/null) ||
    die "npm pack node-llama-cpp@$NODE_LLAMA_CPP_VERSION failed"
  tar -xzf "$work/node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz" -C "$work" \
    package/llama/gitRelease.bundle package/llama/llama.cpp.info.json ||
    die "node-llama-cpp@$NODE_LLAMA_CPP_VERSION has no package/llama/gitRelease.bundle"

  local tag
  tag="$(sed -n 's/.*"tag"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$work/package/llama/llama.cpp.info.json")"
  [[ "$tag" == "$LLAMA_CPP_TAG" ]] ||
    die "node-llama-cpp@$NODE_LLAMA_CPP_VERSION bundles llama.cpp '$tag', expected '$LLAMA_CPP_TAG' (update the pins in $0)"

  git clone --quiet "$work/package/llama/gitRelease.bundle" "$work/llama.cpp" >&2 ||
    die "git clone of the bundled llama.cpp source failed"

  # CPU-only static server and RPC worker (GGML_RPC=ON adds the RPC backend to llama-server and
  # builds ggml-rpc-server). GGML_NATIVE=OFF keeps the binary portable across this team's
  # machines (it still needs AVX2); the UI switches stop the build from downloading a web UI.
  log "configuring llama.cpp $tag"
  cmake -S "$work/llama.cpp" -B "$work/build" \
    -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DGGML_CCACHE=OFF -DGGML_RPC=ON >&2 ||
    die "cmake configure failed (see above)"
  log "building llama-server and ggml-rpc-server with $(nproc) jobs (about 6 minutes on 2 idle cores)"
  cmake --build "$work/build" --target llama-server ggml-rpc-server -j"$(nproc)" >&2 ||
    die "cmake build of llama-server and ggml-rpc-server failed (see above)"

  local built="$work/build/bin/llama-server"
  usable "$built" || die "the freshly built $built does not run (--version reports no llama.cpp version)"
  [[ -x "$work/build/bin/ggml-rpc-server" ]] || die "the build made no $work/build/bin/ggml-rpc-server"

  mkdir -p "$cache_dir"
  install_atomically "$work/build/bin/ggml-rpc-server" "$cached_rpc"
  install_atomically "$built" "$cached"
  log "built $cached and $cached_rpc in $((SECONDS - started)) s"
}

mkdir -p "$cache_root"
exec 9>"$cache_root/.build.lock"
flock -n 9 || { log "another caller is building; waiting for $cache_root/.build.lock"; flock 9; }

# Another caller may have finished the build while this one waited for the lock.
if ! complete; then
  ensure_build_tools
  work="$(mktemp -d "${TMPDIR:-/tmp}/ullm-llama-build.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  build_into_cache "$work"
fi

answer "$cached"
