# Shared by the launchers and bin/test. Debian 12; installs with apt-get (as root, or with sudo).
# Progress goes to stderr so that the commands' own output stays clean for pipes.

TURNOUT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

say() { printf '%s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else say "turnout: need root to run: $*"; return 1
  fi
}

# apt_install [--no-install-recommends] PKG...: installs the Debian packages that are missing, quietly
# (--no-install-recommends: without what they recommend, e.g. ansible-core without the 250 MB ansible collections).
apt_install() {
  local missing=() options=()
  if [ "${1:-}" = --no-install-recommends ]; then options+=("$1"); shift; fi
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y -q ${options[@]+"${options[@]}"} "${missing[@]}" >/dev/null 2>&1; then
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q ${options[@]+"${options[@]}"} "${missing[@]}" >/dev/null
  fi
}

# Java 17+ and Maven 3.8+.
ensure_java_maven() {
  local major=0
  if command -v java >/dev/null 2>&1; then
    major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')"
  fi
  if [ "${major:-0}" -lt 17 ]; then apt_install openjdk-17-jdk-headless; fi
  command -v mvn >/dev/null 2>&1 || apt_install maven
}

# ensure_built MODULE JAR [self-contained]: builds MODULE (and what it needs) when JAR is missing or older than
# any source; a JAR that is not self-contained also needs its lib/ folder.
ensure_built() {
  local module="$1" jar="$2" self_contained="${3:-}"
  # one build at a time: two launchers started together must not build into the same target/
  exec 9>"$TURNOUT_ROOT/.build.lock"
  flock 9
  if [ -f "$jar" ] && { [ -n "$self_contained" ] || [ -d "$(dirname "$jar")/lib" ]; } && [ -z "$(find "$TURNOUT_ROOT/pom.xml" "$TURNOUT_ROOT"/*/pom.xml \
        "$TURNOUT_ROOT"/*/src/main -newer "$jar" -type f -print -quit 2>/dev/null)" ]; then
    flock -u 9
    return 0
  fi
  ensure_java_maven
  say "building $module (first use, or sources changed) ..."
  if ! (cd "$TURNOUT_ROOT" && mvn -B -q -ntp -Dstyle.color=never -DskipTests -pl "$module" -am package >&2); then
    say "turnout: the build failed; run 'mvn -pl $module -am package' in $TURNOUT_ROOT to see why"
    return 1
  fi
  flock -u 9
}

# A Docker engine that answers; started here when installed but not running.
ensure_docker() {
  apt_install docker.io
  if docker info >/dev/null 2>&1; then return 0; fi
  say "starting dockerd (no iptables, no bridge: containers use --network host or none)"
  as_root sh -c 'nohup setsid dockerd --iptables=false --bridge=none >/var/log/turnout-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  say "turnout: dockerd did not come up; see /var/log/turnout-dockerd.log"
  return 1
}
