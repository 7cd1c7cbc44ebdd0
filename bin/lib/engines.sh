# The extra Docker engines the end-to-end tests run against, besides the machine's own Debian 12
# docker.io 20.10 (classic overlay2 store): the docker.io and containerd of Debian 13 (trixie) and of
# Debian sid, both with the containerd image store, as newer Raspberry Pi OS releases ship them.
# Sourced after common.sh; bin/test-engines (as root) does the work, ensure_test_engines calls it.
# Each engine runs from packages downloaded once with apt-get against a sources list of its own
# (the machine's sources and package state are untouched) and unpacked with dpkg-deb into
# $TEST_ENGINES_CACHE/SUITE; it uses the host's runc and docker-init. Its own containerd (socket,
# root, state) and dockerd (socket, data root, exec root) are started here.

TEST_ENGINES_CACHE="${TURNOUT_TEST_ENGINES_CACHE:-/var/lib/turnout/test-engines}"
TEST_ENGINES_RUN="${TURNOUT_TEST_ENGINES_RUN:-/run/turnout-engines}"
TEST_ENGINES_LOG="${TURNOUT_TEST_ENGINES_LOG:-/var/log/turnout-engines}"
TEST_ENGINE_SUITES=(trixie sid)
DEFAULT_TEST_ENGINE="debian12-classic=unix:///var/run/docker.sock"

test_engine_name() { printf '%s-containerd' "$1"; }
test_engine_host() { printf 'unix://%s/%s.sock' "$TEST_ENGINES_RUN" "$1"; }

# The TURNOUT_TEST_ENGINES value naming the default engine and every extra one.
test_engines_spec() {
  local spec="$DEFAULT_TEST_ENGINE" suite
  for suite in "${TEST_ENGINE_SUITES[@]}"; do
    spec="$spec,$(test_engine_name "$suite")=$(test_engine_host "$suite")"
  done
  printf '%s' "$spec"
}

# download_test_engine SUITE: docker.io and containerd of that Debian suite, unpacked once into
# $TEST_ENGINES_CACHE/SUITE/root; a complete earlier download is re-used.
download_test_engine() {
  local suite="$1" dir="$TEST_ENGINES_CACHE/$1"
  if [ -f "$dir/complete" ] && [ -x "$dir/root/usr/sbin/dockerd" ] && [ -x "$dir/root/usr/bin/containerd" ]; then
    return 0
  fi
  say "downloading docker.io and containerd of Debian $suite into $dir (once)"
  local apt="$dir/apt"
  rm -rf "$apt" "$dir/root" "$dir/root.partial" "$dir/complete"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs" || return 1
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$apt/sources.list"
  # only this sources list, its own package lists and cache: the machine's apt state stays as it is
  local opts=(-q -o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=/nonexistent
              -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
  if ! apt-get "${opts[@]}" update >"$apt/update.log" 2>&1; then
    say "turnout: apt-get update for Debian $suite failed:"; tail -n 5 "$apt/update.log" >&2; return 1
  fi
  if ! (cd "$apt/debs" && apt-get "${opts[@]}" download docker.io containerd) >"$apt/download.log" 2>&1; then
    say "turnout: apt-get download docker.io containerd from Debian $suite failed:"; tail -n 5 "$apt/download.log" >&2; return 1
  fi
  local deb
  for deb in "$apt"/debs/*.deb; do
    dpkg-deb -x "$deb" "$dir/root.partial" || { say "turnout: cannot unpack $deb"; return 1; }
    echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)" >>"$dir/versions"
  done
  mv "$dir/root.partial" "$dir/root" && mv "$dir/versions" "$dir/complete" && rm -rf "$apt"
}

# start_test_engine SUITE: its containerd and dockerd, unless its dockerd answers already; waits
# until it answers and checks that it keeps images in the containerd store.
start_test_engine() {
  local suite="$1" root="$TEST_ENGINES_CACHE/$1/root" data="$TEST_ENGINES_CACHE/$1/data"
  local run="$TEST_ENGINES_RUN/$1" host
  host="$(test_engine_host "$suite")"
  if ! docker -H "$host" version >/dev/null 2>&1; then
    local init
    init="$(readlink -f /usr/bin/docker-init)"
    [ -x "$init" ] || { say "turnout: no docker-init on this machine (the Debian 12 docker.io and tini provide it)"; return 1; }
    mkdir -p "$run" "$data" "$TEST_ENGINES_LOG" || return 1
    # the extracted binaries first: containerd finds its shim on PATH, the host's is older
    local path="$root/usr/bin:$root/usr/sbin:$PATH"
    if ! containerd_answers "$suite"; then
      # config version 3 is containerd 2's own (it migrates a version 2 file, with a warning); 1.7 reads 2
      local version=2
      grep -q '^containerd [2-9]' "$TEST_ENGINES_CACHE/$suite/complete" && version=3
      cat >"$run/containerd.toml" <<EOF
version = $version
root = "$data/containerd"
state = "$run/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$run/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$data/containerd-opt"
EOF
      say "starting containerd of Debian $suite ($(sed -n 's/^containerd //p' "$TEST_ENGINES_CACHE/$suite/complete"))"
      # setsid: a Ctrl-C in the terminal does not reach it; it does not fork here (a background job
      # leads no process group), so $! is containerd's pid
      setsid env PATH="$path" "$root/usr/bin/containerd" --config "$run/containerd.toml" \
        </dev/null >"$TEST_ENGINES_LOG/$suite-containerd.log" 2>&1 8>&- &
      echo $! >"$run/containerd.pid"
      wait_for "containerd of Debian $suite" "$TEST_ENGINES_LOG/$suite-containerd.log" $! containerd_answers "$suite" || return 1
    fi
    cat >"$run/daemon.json" <<EOF
{"features": {"containerd-snapshotter": true}, "init-path": "$init", "cgroup-parent": "turnout-$suite"}
EOF
    say "starting dockerd of Debian $suite ($(sed -n 's/^docker.io //p' "$TEST_ENGINES_CACHE/$suite/complete")) on $host"
    setsid env PATH="$path" "$root/usr/sbin/dockerd" --config-file "$run/daemon.json" -H "$host" \
      --containerd "$run/containerd.sock" --data-root "$data/docker" --exec-root "$run/docker" \
      --pidfile "$run/dockerd.pid" --iptables=false --ip6tables=false --bridge=none \
      </dev/null >"$TEST_ENGINES_LOG/$suite-dockerd.log" 2>&1 8>&- &
    wait_for "dockerd of Debian $suite" "$TEST_ENGINES_LOG/$suite-dockerd.log" $! docker -H "$host" info || return 1
  fi
  if ! docker -H "$host" info --format '{{json .DriverStatus}}' | grep -q io.containerd.snapshotter.v1; then
    say "turnout: the engine on $host does not keep images in the containerd store; stop it (bin/test-engines stop) and run again"
    return 1
  fi
}

# containerd_answers SUITE: its containerd takes requests (ctr waits 10 s for a missing socket without the checks)
containerd_answers() {
  local sock="$TEST_ENGINES_RUN/$1/containerd.sock"
  [ -S "$sock" ] && "$TEST_ENGINES_CACHE/$1/root/usr/bin/ctr" --address "$sock" --connect-timeout 2s version >/dev/null 2>&1
}

# wait_for WHAT LOG PID COMMAND...: up to 60 s for COMMAND to succeed while PID lives; loud with the
# log's tail when it does not.
wait_for() {
  local what="$1" log="$2" pid="$3"
  shift 3
  for _ in $(seq 1 120); do
    "$@" >/dev/null 2>&1 && return 0
    [ -d "/proc/$pid" ] || break
    sleep 0.5
  done
  say "turnout: $what did not come up; the end of $log:"
  tail -n 20 "$log" >&2
  return 1
}

# stop_test_engine SUITE: its dockerd (which stops its containers), then its containerd.
stop_test_engine() {
  local run="$TEST_ENGINES_RUN/$1" pidfile
  for pidfile in "$run/dockerd.pid" "$run/containerd.pid"; do
    [ -f "$pidfile" ] || continue
    local pid
    pid="$(cat "$pidfile")"
    # only a process running this engine's binaries: a stale pid file may name another process by now
    if grep -qF "$TEST_ENGINES_CACHE/$1/root/" "/proc/$pid/cmdline" 2>/dev/null; then
      say "stopping $(basename "$pidfile" .pid) of Debian $1 (pid $pid)"
      kill -TERM "$pid"
      for _ in $(seq 1 60); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
      if [ -d "/proc/$pid" ]; then say "turnout: pid $pid did not stop within 30 s"; return 1; fi
    fi
    rm -f "$pidfile"
  done
}

# start_test_engines: downloads (once) and starts (unless running) every extra engine, as root;
# one caller at a time per machine.
start_test_engines() {
  mkdir -p "$TEST_ENGINES_CACHE" || return 1
  exec 8>"$TEST_ENGINES_CACHE/.lock"
  flock 8
  local suite
  for suite in "${TEST_ENGINE_SUITES[@]}"; do
    if ! download_test_engine "$suite" || ! start_test_engine "$suite"; then
      flock -u 8
      say "turnout: the Docker engine of Debian $suite is not available (logs: $TEST_ENGINES_LOG)"
      return 1
    fi
  done
  flock -u 8
}

# ensure_test_engines: every extra engine running; exports TURNOUT_TEST_ENGINES naming them and the default one.
ensure_test_engines() {
  local spec
  if ! spec="$(as_root "$TURNOUT_ROOT/bin/test-engines" start)" || [ -z "$spec" ]; then
    say "turnout: the extra Docker engines did not start (see above); bin/test-engines status shows them"
    return 1
  fi
  export TURNOUT_TEST_ENGINES="$spec"
}
