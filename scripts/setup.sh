#!/usr/bin/env bash
# Prepares a Debian 12 machine (as root) for tasknet: the system tools its plugins, agent and
# tests call, then the npm dependencies and the build (npm ci runs `prepare`, which builds dist/).
set -euo pipefail
cd "$(dirname "$0")/.."

need_node_major=20
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt "$need_node_major" ]; then
  echo "tasknet needs Node.js >= $need_node_major (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# command -> Debian package that provides it
declare -A packages=(
  [ip]=iproute2 [nsenter]=util-linux [unshare]=util-linux [sysctl]=procps
  [iptables]=iptables [ping]=iputils-ping [git]=git
)
missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund
