#!/usr/bin/env bash
# Provisions the tasknet lab VM (Debian 12, as root; run by `vagrant up`, see docs/vagrant.md):
# Node 20, the Debian packages tasknet calls, tasknet itself with its launchers in /opt/cni/bin,
# then the demo and one task on each extra NIC as its ENI (eni-task.sh); the whole test suite
# only with TASKNET_PROVISION_TESTS=1 (it takes long and the demo already runs a task end to end).
# TASKNET_GIT_HASH/TASKNET_GIT_DIRTY (set by the Vagrantfile) tell the build its commit.
# Safe to run again (`vagrant provision`): every step checks what is already there.
set -euo pipefail

src=${TASKNET_SRC:-/opt/tasknet-src}
app=/opt/tasknet
enis=${TASKNET_ENIS:-}
node_major=20

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'provision: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root"
[ -f "$src/package.json" ] || die "no tasknet checkout at $src (TASKNET_SRC)"

log "Debian packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  ca-certificates curl xz-utils git rsync iproute2 iptables iputils-ping util-linux procps >/dev/null

# Debian 12's nodejs is 18: take the newest 20.x release from nodejs.org, checked against its
# published SHA-256, into /usr/local.
installed_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(installed_major)" -lt "$node_major" ]; then
  log "Node.js $node_major"
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) die "no Node.js build for $(uname -m)" ;;
  esac
  base="https://nodejs.org/dist/latest-v$node_major.x"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  curl -fsSL "$base/SHASUMS256.txt" -o "$tmp/SHASUMS256.txt"
  file=$(grep -oE "node-v$node_major\.[0-9]+\.[0-9]+-linux-$arch\.tar\.xz" "$tmp/SHASUMS256.txt" | head -n 1)
  [ -n "$file" ] || die "no linux-$arch tarball listed in $base/SHASUMS256.txt"
  curl -fsSL "$base/$file" -o "$tmp/$file"
  (cd "$tmp" && grep " $file\$" SHASUMS256.txt | sha256sum -c --quiet -)
  tar -xJf "$tmp/$file" -C /usr/local --strip-components=1 --no-same-owner
  hash -r
fi
node --version

# The synced folder is replaced by every `vagrant rsync`; tasknet runs from a copy of its own,
# so node_modules/ and dist/ survive and the launchers keep pointing at a stable path.
log "tasknet in $app"
mkdir -p "$app"
rsync -a --delete --exclude node_modules/ --exclude dist/ --exclude .tap/ "$src/" "$app/"
cd "$app"
bash scripts/setup.sh
ln -sf "$app/bin/tasknet" /usr/local/bin/tasknet
tasknet install --conflist awsvpc-eni --conflist awsvpc-bridge

if [ "${TASKNET_PROVISION_TESTS:-0}" = 1 ]; then
  log "Test suite (npm test)"
  npm test
fi

log "Demo (npm run demo)"
npm run demo

log "A task on each extra NIC"
# The extra NICs: Ethernet links other than the one with the default route (Vagrant's own NAT
# NIC), in interface order, paired with TASKNET_ENIS ("task-CIDR,gateway" per NIC).
mapfile -t macs < <(bash "$app/vagrant/eni-task.sh" --list-macs)
read -r -a specs <<<"$enis"
[ "${#specs[@]}" -gt 0 ] || die "TASKNET_ENIS is empty"
[ "${#macs[@]}" -ge "${#specs[@]}" ] || die "found ${#macs[@]} spare NICs (${macs[*]:-none}), need ${#specs[@]}"
for i in "${!specs[@]}"; do
  IFS=, read -r cidr gateway <<<"${specs[$i]}"
  bash "$app/vagrant/eni-task.sh" "${macs[$i]}" "$cidr" "$gateway"
done

log "Done: tasknet is installed (tasknet --help; launchers in /opt/cni/bin)"
tasknet --version
