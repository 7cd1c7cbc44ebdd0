#!/usr/bin/env bash
# build-image.sh OUT.tar VERSION: the orchestrator's Docker image, FROM scratch, offline, saved with `docker save`
# as OUT.tar, tagged turnout/server:VERSION and turnout/server:latest (bin/package; ServerImageIT).
#   - a Java runtime made by jlink from this machine's JDK: the modules jdeps finds in the orchestrator's jars, plus
#     the ones loaded only by name (EC crypto, DNS naming, zip file system); no debug symbols, man pages or headers
#   - orchestrator/target/turnout.jar and lib/ (RocksDB's and SQLite's jars keep only this machine's native library)
#   - the shared libraries `ldd` names for those, copied from this machine (Debian 12's glibc)
#   - /etc/passwd and /etc/group (turnout = 10001:10001, also in the group mosquitto = 1883, the eclipse-mosquitto
#     image's), /tmp (1777), /var/lib/turnout (0750, turnout) and /mosquitto/turnout (0750, turnout:mosquitto)
# Needs docker, a JDK 17 with jmods (jlink, jdeps), zip, unzip, ldd, objcopy (binutils: jlink strips native symbols
# with it). The layer's tar is sorted, with fixed times (the last commit's) and owners: the same jars on the same
# cached runtime give the same layer digest (a new jlink run does not: its class data archive differs from run to run).
# TURNOUT_IMAGE_REPO names another repository than turnout/server.
set -euo pipefail
out="$(realpath -m "$1")"
version="$2"
repo="${TURNOUT_IMAGE_REPO:-turnout/server}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
app="$root/orchestrator/target"
work="$root/packaging/target/image"
start=$SECONDS
say() { printf 'build-image: [%3ds] %s\n' "$((SECONDS - start))" "$*" >&2; }

[ -f "$app/turnout.jar" ] && [ -d "$app/lib" ] || { say "no $app/turnout.jar and lib/: build the orchestrator first (mvn -pl orchestrator -am package)"; exit 1; }
java_home="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac || command -v jlink)")")")}"
[ -x "$java_home/bin/jlink" ] && [ -f "$java_home/jmods/java.base.jmod" ] || { say "no jlink and jmods under $java_home (Debian: openjdk-17-jdk-headless)"; exit 1; }
for tool in docker zip unzip ldd tar objcopy; do command -v "$tool" >/dev/null || { say "needs $tool"; exit 1; }; done
case "$(uname -m)" in
  x86_64) rocksdb=librocksdbjni-linux64.so; sqlite=org/sqlite/native/Linux/x86_64/libsqlitejdbc.so ;;
  aarch64) rocksdb=librocksdbjni-linux-aarch64.so; sqlite=org/sqlite/native/Linux/aarch64/libsqlitejdbc.so ;;
  *) say "no image for $(uname -m) yet"; exit 1 ;;
esac
epoch="$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)"

rm -rf "$work"
mkdir -p "$work/rootfs/opt/turnout" "$work/natives"
rootfs="$work/rootfs"

# jdeps over 100 jars and jlink take a minute or two each: both are kept in a cache on this machine, keyed by what
# they read (the dependency jars, the JDK, the module list); the orchestrator's own jar is read every time
cache="${TURNOUT_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/turnout/server-image}"
mkdir -p "$cache"
jdk_id="$(cat "$java_home/release" 2>/dev/null | sha256sum | cut -c1-16)"
libs_key="$( (cd "$app/lib" && sha256sum -- *.jar; echo "$jdk_id") | sha256sum | cut -c1-16)"
jdeps() { "$java_home/bin/jdeps" --multi-release 17 --ignore-missing-deps --print-module-deps "$@" 2>/dev/null | tail -n 1; }
if [ -s "$cache/modules-$libs_key" ]; then
  say "jdeps: the modules of the dependency jars (cached) ..."
else
  say "jdeps: the modules of the dependency jars ..."
  jdeps --class-path "$app/lib/*" "$app"/lib/*.jar > "$cache/modules-$libs_key.tmp"
  grep -q '^java.base' "$cache/modules-$libs_key.tmp" || { say "jdeps printed no module list: $(cat "$cache/modules-$libs_key.tmp")"; exit 1; }
  mv "$cache/modules-$libs_key.tmp" "$cache/modules-$libs_key"
fi
say "jdeps: the modules of turnout.jar ..."
own="$(jdeps "$app/turnout.jar")"
case "$own" in java.base*) ;; *) say "jdeps printed no module list for turnout.jar: $own"; exit 1 ;; esac
# loaded by name, invisible to jdeps: EC and Ed25519 keys (TLS), JNDI's DNS provider, the zip file system
modules="$(printf '%s,%s,jdk.crypto.ec,jdk.naming.dns,jdk.zipfs' "$(cat "$cache/modules-$libs_key")" "$own" | tr ',' '\n' | sort -u | paste -sd, -)"
runtime_key="$(printf '%s %s %s' "$modules" "$jdk_id" "$(sha256sum "$0" | cut -c1-16)" | sha256sum | cut -c1-16)"
if [ -d "$cache/runtime-$runtime_key" ]; then
  say "jlink (cached): $modules"
else
  say "jlink: $modules"
  rm -rf "$cache/runtime-$runtime_key.tmp"
  "$java_home/bin/jlink" --add-modules "$modules" --strip-debug --strip-native-debug-symbols exclude-debuginfo-files \
    --no-man-pages --no-header-files --compress=2 --generate-cds-archive --output "$cache/runtime-$runtime_key.tmp" >/dev/null
  # the class data archive for heaps over 32 GB, and java.desktop's native half (AWT, X11, fonts, sound, images): a
  # headless server never loads them, and they would pull X11, ALSA, FreeType and GLib into the image
  rm -f "$cache/runtime-$runtime_key.tmp"/lib/server/classes_nocoops.jsa
  rm -f "$cache/runtime-$runtime_key.tmp"/lib/{libawt_xawt,libsplashscreen,libjsound,libfontmanager,libjavajpeg,liblcms,libmlib_image}.so
  mv "$cache/runtime-$runtime_key.tmp" "$cache/runtime-$runtime_key"
  # one runtime kept: older ones go
  find "$cache" -maxdepth 1 -name 'runtime-*' ! -name "runtime-$runtime_key" -exec rm -rf {} +
fi
mkdir -p "$rootfs/opt"
cp -a "$cache/runtime-$runtime_key" "$rootfs/opt/java"
# Debian's JDK points cacerts at /etc/ssl/certs/java/cacerts (ca-certificates-java): copy the store itself
if [ -f /etc/ssl/certs/java/cacerts ]; then
  rm -f "$rootfs/opt/java/lib/security/cacerts"
  cp /etc/ssl/certs/java/cacerts "$rootfs/opt/java/lib/security/cacerts"
fi

say "the orchestrator's jars ..."
cp "$app/turnout.jar" "$rootfs/opt/turnout/"
cp -r "$app/lib" "$rootfs/opt/turnout/lib"
# RocksDB's jar carries 13 native builds (58 MB) and SQLite's 22: keep this machine's
strip_natives() {
  local jar="$1" keep="$2" pattern="$3" drop
  drop="$(unzip -Z1 "$jar" | grep -E "$pattern" | grep -vxF "$keep" || true)"
  [ -n "$drop" ] && printf '%s\n' "$drop" | zip -q -d "$jar" -@
  unzip -q -o -d "$work/natives" "$jar" "$keep"
}
strip_natives "$(ls "$rootfs"/opt/turnout/lib/rocksdbjni-*.jar)" "$rocksdb" '^librocksdbjni-'
strip_natives "$(ls "$rootfs"/opt/turnout/lib/sqlite-jdbc-*.jar)" "$sqlite" '^org/sqlite/native/.*(\.so|\.dll|\.jnilib)$'

say "the shared libraries they need (ldd) ..."
copy_with_parents() {  # copies FILE (following links) to the same path in the rootfs, and the link too
  local file="$1"
  [ -e "$rootfs$file" ] && return 0
  mkdir -p "$rootfs$(dirname "$file")"
  cp -L "$file" "$rootfs$file"
}
objects=$(find "$rootfs/opt/java" "$work/natives" -type f \( -name '*.so' -o -path '*/bin/*' \))
for object in $objects; do
  ldd "$object" 2>/dev/null | awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}' 
done | sort -u | grep -v "^$work/" | while read -r lib; do copy_with_parents "$lib"; done
[ -e "$rootfs/lib64/ld-linux-x86-64.so.2" ] || [ "$(uname -m)" != x86_64 ] || copy_with_parents /lib64/ld-linux-x86-64.so.2

say "users, /tmp and the data directory ..."
mkdir -p "$rootfs/etc" "$rootfs/tmp" "$rootfs/var/lib/turnout" "$rootfs/mosquitto/turnout"
cat > "$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
turnout:x:10001:10001:Turnout orchestrator:/var/lib/turnout:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
PASSWD
cat > "$rootfs/etc/group" <<'GROUP'
root:x:0:
mosquitto:x:1883:turnout
turnout:x:10001:
nogroup:x:65534:
GROUP
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
chmod 1777 "$rootfs/tmp"
chmod 0750 "$rootfs/var/lib/turnout" "$rootfs/mosquitto/turnout"
find "$rootfs" -exec touch -h -d "@$epoch" {} +

say "rootfs.tar and docker build ..."
tar_opts=(--sort=name --mtime="@$epoch" --numeric-owner --format=gnu)
# the two directories the server writes: a new named volume mounted on one takes its owner and mode from the image
tar -C "$rootfs" "${tar_opts[@]}" --owner=0 --group=0 --exclude=./var/lib/turnout --exclude=./mosquitto/turnout -cf "$work/rootfs.tar" .
tar -C "$rootfs" "${tar_opts[@]}" --owner=10001 --group=10001 --no-recursion -rf "$work/rootfs.tar" ./var/lib/turnout
# Mosquitto's files (turnout server --mosquitto-config /mosquitto/turnout): the group mosquitto of the
# eclipse-mosquitto image (1883) may enter, to read turnout.passwd (0640, that group)
tar -C "$rootfs" "${tar_opts[@]}" --owner=10001 --group=1883 --no-recursion -rf "$work/rootfs.tar" ./mosquitto/turnout
cp "$here/Dockerfile" "$work/Dockerfile"
# the classic builder: it needs no buildx and builds FROM scratch without a registry
if ! DOCKER_BUILDKIT=0 docker build -q --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.title=Turnout orchestrator" \
    -t "$repo:$version" -t "$repo:latest" -f "$work/Dockerfile" "$work" >"$work/docker-build.log" 2>&1; then
  cat "$work/docker-build.log" >&2
  say "docker build failed"
  exit 1
fi
mkdir -p "$(dirname "$out")"
docker save -o "$out" "$repo:$version" "$repo:latest"
chmod 644 "$out"
say "$out: $repo:$version and :latest, image $(docker image inspect -f '{{.Size}}' "$repo:$version" | awk '{printf "%.1f MB", $1/1e6}'), archive $(du -m "$out" | cut -f1) MiB"
