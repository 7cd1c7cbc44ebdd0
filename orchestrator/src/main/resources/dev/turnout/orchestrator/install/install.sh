#!/bin/sh
# Turnout: installs the edge daemon on this device and enrolls it as @@DEVICE@@.
# Written for this device by the orchestrator at @@ORCHESTRATOR@@ (docs/install.md, "One line on the Pi").
# It downloads the edge package and this device's config, checks both against the SHA-256 below,
# installs the package, writes /etc/turnout/edge.yaml (mode 0600: it holds the device's broker
# secret) and starts turnout-edge. The link in BASE works once, until @@EXPIRES@@.
set -eu

DEVICE='@@DEVICE@@'
BASE='@@BASE@@'
DEB_SHA256='@@DEB_SHA256@@'
CONFIG_SHA256='@@CONFIG_SHA256@@'
CURL_OPTS='@@CURL_OPTS@@'
ROOT="${TURNOUT_ROOT:-}"   # tests install into a throw-away root; empty on a device
CONFIG="$ROOT/etc/turnout/edge.yaml"

say() { echo "turnout-install: $*"; }
fail() { echo "turnout-install: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run me as root: sudo sh $0"
if [ -f "$CONFIG" ] && grep -q '^mqttPassword:' "$CONFIG"; then
	fail "this device is enrolled already ($(grep '^deviceId:' "$CONFIG" || echo "$CONFIG")); nothing changed (docs/install.md: \"It says it already ran\")"
fi
if [ -z "$ROOT" ] && [ -d /run/systemd/system ] && systemctl is-active --quiet turnout-edge; then
	fail "turnout-edge is running already; nothing changed (docs/install.md: \"It says it already ran\")"
fi

fetch() { # URL FILE: curl, else wget (plain HTTP only)
	if command -v curl >/dev/null 2>&1; then
		# shellcheck disable=SC2086
		curl -fsS $CURL_OPTS -o "$2" "$1" || fail "cannot download $1"
	elif [ -z "$CURL_OPTS" ] && command -v wget >/dev/null 2>&1; then
		wget -q -O "$2" "$1" || fail "cannot download $1"
	else
		fail "curl is needed to download from the orchestrator: apt-get install curl"
	fi
}
check() { # FILE SHA256
	[ "$(sha256sum "$1" | cut -d ' ' -f 1)" = "$2" ] || fail "$(basename "$1") is not the file the orchestrator announced (SHA-256 differs); nothing changed"
}

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
chmod 0755 "$TMP"               # apt reads the package as its user _apt
mkdir -m 0700 "$TMP/private"    # the config (the broker secret) stays root's
say "downloading the edge package from $BASE"
fetch "$BASE/turnout-edge.deb" "$TMP/turnout-edge.deb"
check "$TMP/turnout-edge.deb" "$DEB_SHA256"

if [ -n "$ROOT" ]; then
	dpkg --root="$ROOT" --force-script-chrootless --force-depends -i "$TMP/turnout-edge.deb"
elif command -v apt-get >/dev/null 2>&1; then
	apt-get install -y "$TMP/turnout-edge.deb"   # Java and Docker come from this device's own mirror
else
	dpkg -i "$TMP/turnout-edge.deb"
fi
say "installed the package turnout-edge"

say "downloading the config of $DEVICE (the link stops working now)"
fetch "$BASE/edge.yaml" "$TMP/private/edge.yaml"
check "$TMP/private/edge.yaml" "$CONFIG_SHA256"
mkdir -p "$ROOT/etc/turnout"
(umask 077 && cp "$TMP/private/edge.yaml" "$CONFIG.new")
chmod 0600 "$CONFIG.new"
mv "$CONFIG.new" "$CONFIG"
say "wrote $CONFIG (mode 0600)"

if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
	systemctl enable turnout-edge
	systemctl restart turnout-edge
	say "started turnout-edge; its log: journalctl -u turnout-edge -f"
else
	say "no systemd here: start it with turnout-edge --config /etc/turnout/edge.yaml --data /var/lib/turnout-edge"
fi
say "done: $DEVICE shows online in 'turnout devices' once it connects"
