#!/usr/bin/env bash
# Prepares a Debian 12 machine (as root) for tasknet: the system tools its plugins, agent and
# tests call, then the npm dependencies and the build (dist/).
set -euo pipefail
cd "$(dirname "$0")/.."

need_node_major=20
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt "$need_node_major" ]; then
  echo "tasknet needs Node.js >= $need_node_major (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# command -> Debian package that provides it. dockerd (docker.io) and busybox (busybox-static)
# are the engine runtime's: the lab starts a private dockerd, and makes its images offline. zsh
# only for the tests: they run `tasknet completion zsh`'s answers under it.
declare -A packages=(
  [ip]=iproute2 [nsenter]=util-linux [unshare]=util-linux [setpriv]=util-linux [sysctl]=procps
  [iptables]=iptables [ping]=iputils-ping [git]=git [tar]=tar
  [dockerd]=docker.io [busybox]=busybox-static [zsh]=zsh
)
missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # No package may start a system service (docker.io's would start dockerd in this machine's own
  # netns): policy-rc.d answering 101 tells invoke-rc.d "not allowed", for this install only.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # tasknet needs the dockerd binary, not a system engine: on a systemd host, the units docker.io
  # just enabled (they would start at the next boot, with a bridge and iptables rules of their
  # own) are disabled again. An engine that was there before is left as it was.
  if printf '%s\n' "${missing[@]}" | grep -qx docker.io && [ -d /run/systemd/system ]; then
    systemctl disable --now docker.service docker.socket containerd.service >/dev/null 2>&1 || true
  fi
fi

npm ci --no-audit --no-fund
npm run build
