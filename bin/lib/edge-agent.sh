# edge-agent.sh: which edge daemon the launcher starts, the built-in one or the agent release current in the
# daemon's data directory, and the trial of a version the daemon just switched to (docs/edge-daemon.md, "Agent
# releases"). POSIX sh, sourced by bin/turnout-edge and the packaged /usr/bin/turnout-edge.
#
#   edge_jar=BUILT-IN.jar edge_options=BUILT-IN/jvm.options; agent_select "$@"; exec java @"$edge_options" -jar "$edge_jar" "$@"
#
# Without --data DIR, or with no release installed in DIR/agent, nothing changes. The files in DIR/agent:
#   current  the release to run (one line; absent: the built-in daemon)   written by the daemon, atomically
#   trial    version=, previous=, timeout= (seconds)                        written by the daemon before `current`
#            started=  (this launcher, when it starts the version on trial), timedOut= (its watchdog)
#   failed   version=, reason=exited|not-connected, timeout=, at=          this launcher, when it goes back
# A trial that started once and was not confirmed (the daemon removes `trial` once it has connected and reported)
# failed: the next start goes back to the previous version. The watchdog stops a version still unconfirmed at the
# deadline, so that it fails too; the service manager (or whoever runs the launcher) starts the launcher again.

# agent_select ARGS...: sets edge_jar and edge_options to the current release's; exports TURNOUT_EDGE_AGENT_HOME
# (this launcher manages DIR/agent) and TURNOUT_EDGE_AGENT_VERSION (the release it starts).
agent_select() {
  agent_data="" agent_daemon=yes agent_after=""
  for agent_arg in "$@"; do
    case "$agent_after" in
      --data) agent_data="$agent_arg" ;;
    esac
    case "$agent_after" in
      --data|--config) agent_after=""; continue ;;
    esac
    case "$agent_arg" in
      --data=*) agent_data="${agent_arg#--data=}" ;;
      --data|--config) agent_after="$agent_arg" ;;
      cache|-h|--help|-V|--version) agent_daemon="" ;; # not the daemon: no trial moves on
    esac
  done
  [ -n "$agent_data" ] || return 0
  agent_home="$agent_data/agent"
  export TURNOUT_EDGE_AGENT_HOME="$agent_home"
  if [ -n "$agent_daemon" ] && [ -f "$agent_home/trial" ]; then
    agent_trial "$agent_home"
  fi
  agent_version="$(cat "$agent_home/current" 2>/dev/null || true)"
  if [ -n "$agent_version" ] && [ -f "$agent_home/$agent_version/turnout-edge.jar" ]; then
    edge_jar="$agent_home/$agent_version/turnout-edge.jar"
    if [ -f "$agent_home/$agent_version/jvm.options" ]; then edge_options="$agent_home/$agent_version/jvm.options"; fi
    export TURNOUT_EDGE_AGENT_VERSION="$agent_version"
  fi
  return 0
}

# agent_value FILE KEY: the value of KEY=... in FILE (first one).
agent_value() {
  sed -n "s/^$2=//p" "$1" 2>/dev/null | head -n 1
}

# agent_trial HOME: a switch is on trial. First start of it: mark it started and set the watchdog. A later start
# without a confirmation in between: it failed; go back to the previous version.
agent_trial() {
  trial="$1/trial"
  trial_version="$(agent_value "$trial" version)"
  trial_previous="$(agent_value "$trial" previous)"
  trial_timeout="$(agent_value "$trial" timeout)"
  case "$trial_timeout" in ''|*[!0-9]*) trial_timeout=60 ;; esac
  if [ "$trial_version" != "$(cat "$1/current" 2>/dev/null || true)" ]; then
    rm -f "$trial" # the switch never happened (the daemon ended before it wrote `current`), or was undone
    return 0
  fi
  if grep -q '^started=' "$trial"; then
    trial_reason=exited
    if grep -q '^timedOut=' "$trial"; then trial_reason=not-connected; fi
    printf 'version=%s\nreason=%s\ntimeout=%s\nat=%s\n' "$trial_version" "$trial_reason" "$trial_timeout" "$(date +%s)" \
      >"$1/.failed.tmp" && mv -f "$1/.failed.tmp" "$1/failed"
    if [ -n "$trial_previous" ]; then
      printf '%s\n' "$trial_previous" >"$1/.current.tmp" && mv -f "$1/.current.tmp" "$1/current"
    else
      rm -f "$1/current"
    fi
    rm -f "$trial"
    echo "turnout-edge: ${trial_version:-the built-in version} ended its trial unconfirmed ($trial_reason);" \
      "starting ${trial_previous:-the built-in version} again" >&2
    return 0
  fi
  trial_pid=$$ # the daemon once the launcher has exec'd java (same process)
  trial_token="$trial_pid-$(date +%s)"
  echo "started=$trial_token" >>"$trial"
  # the watchdog, outside the new version: still unconfirmed at the deadline, it is stopped (and marked so). It
  # acts only while the trial it was set for is open and the process is the same (its start time: pids are reused)
  (
    trial_since="$(agent_started_at "$trial_pid")"
    sleep "$trial_timeout"
    grep -qx "started=$trial_token" "$trial" 2>/dev/null || exit 0
    [ "$(agent_started_at "$trial_pid")" = "$trial_since" ] || exit 0
    echo "timedOut=$(date +%s)" >>"$trial"
    kill -TERM "$trial_pid" 2>/dev/null || exit 0
    sleep 20
    if grep -qx "started=$trial_token" "$trial" 2>/dev/null && [ "$(agent_started_at "$trial_pid")" = "$trial_since" ]; then
      kill -KILL "$trial_pid" 2>/dev/null || true
    fi
  ) </dev/null >/dev/null 2>&1 &
}

# agent_started_at PID: when the process started (field 22 of /proc/PID/stat); empty when it is gone.
agent_started_at() {
  sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20
}
