#!/usr/bin/env bash
# mosquitto-standin.sh IMAGE: a stand-in for the eclipse-mosquitto image (no registry here to pull it from), made
# like it: this machine's Mosquitto 2 (Debian's) and mosquitto_sub with the libraries ldd names, a busybox shell, the
# user mosquitto = 1883, /mosquitto/{config,data,log}, and the same entry point (chown -R /mosquitto as root, then exec).
# ServerImageIT runs config/compose.yaml with it.
set -euo pipefail
image="$1"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,usr/sbin,usr/bin,etc,tmp,mosquitto/config,mosquitto/data,mosquitto/log}
cp /bin/busybox "$root/bin/"
for applet in sh stat grep sleep kill chown id cat; do ln -s busybox "$root/bin/$applet"; done
cp /usr/sbin/mosquitto "$root/usr/sbin/"
cp /usr/bin/mosquitto_sub "$root/usr/bin/"
for lib in $(ldd /usr/sbin/mosquitto /usr/bin/mosquitto_sub | awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}' | sort -u); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
printf 'root:x:0:0:root:/root:/bin/sh\nmosquitto:x:1883:1883:mosquitto:/var/empty:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nmosquitto:x:1883:\n' > "$root/etc/group"
cat > "$root/docker-entrypoint.sh" <<'ENTRY'
#!/bin/sh
set -e
if [ "$(id -u)" = 0 ]; then [ -d /mosquitto ] && chown -R mosquitto:mosquitto /mosquitto 2>/dev/null || true; fi
exec "$@"
ENTRY
chmod 755 "$root/docker-entrypoint.sh"
chmod 1777 "$root/tmp"
tar -C "$root" -c . | docker import -c 'ENTRYPOINT ["/docker-entrypoint.sh"]' \
  -c 'CMD ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]' -c 'ENV PATH=/usr/sbin:/usr/bin:/bin' - "$image" >/dev/null
