#!/usr/bin/env bash
# One awsvpc task on a real NIC, found by MAC, with the installed plugins and the example
# conflists (examples/cni/awsvpc-*.conflist): ADD the ENI as eth0 and the bridge as ecs-eth0 in a
# fresh netns, ping the NIC's gateway and the bridge from the task, DEL both, and check that the
# NIC is back under its own name. Used by provision.sh; runnable by hand in the VM.
#   eni-task.sh MAC TASK-CIDR GATEWAY
#   eni-task.sh --list-macs     the MACs of spare NICs: Ethernet, not the default route's
# Environment: CNI_PATH (default /opt/cni/bin), CNI_CONF_DIR (default /etc/cni/net.d),
# TASKNET (default: tasknet), IPAM_DB_PATH (default: ecs-ipam's).
set -euo pipefail

cni_path=${CNI_PATH:-/opt/cni/bin}
conf_dir=${CNI_CONF_DIR:-/etc/cni/net.d}
tasknet=${TASKNET:-tasknet}

die() { printf 'eni-task: %s\n' "$*" >&2; exit 1; }

if [ "${1:-}" = --list-macs ]; then
  default_dev=$(ip -o route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
  ip -o link show | awk -v skip="${default_dev:-}" '
    / link\/ether / { name = $2; sub(/:$/, "", name); sub(/@.*/, "", name)
      if (name != skip) for (i = 1; i < NF; i++) if ($i == "link/ether") print $(i + 1) }'
  exit 0
fi

[ "$#" -eq 3 ] || die "usage: eni-task.sh MAC TASK-CIDR GATEWAY | --list-macs"
mac=$1 cidr=$2 gateway=$3
host_name=$(ip -o link show | awk -v mac="$mac" '$0 ~ " link/ether " mac " " { n = $2; sub(/:$/, "", n); sub(/@.*/, "", n); print n; exit }')
[ -n "$host_name" ] || die "no interface with MAC $mac"

ns="tasknet-eni-$(printf '%s' "$mac" | tr -d ':')"
id="eni-task-$(printf '%s' "$mac" | tr -d ':')"
export CNI_PATH=$cni_path
export CNI_ARGS="IgnoreUnknown=1;ENIMACAddress=$mac;ENIIPAddresses=$cidr;GatewayIPAddresses=$gateway"
cni() { "$tasknet" cni "$1" "$conf_dir/$2" "$ns" --ifname "$3" --container-id "$id" >/dev/null; }

cleanup() {
  cni del awsvpc-bridge.conflist ecs-eth0 || true
  cni del awsvpc-eni.conflist eth0 || true
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"

echo "task netns $ns: ENI $mac ($host_name) as eth0 with $cidr, gateway $gateway"
cni add awsvpc-eni.conflist eth0
cni add awsvpc-bridge.conflist ecs-eth0
ip -n "$ns" -br addr
ip netns exec "$ns" ping -c 1 -W 5 "$gateway" >/dev/null || die "the task cannot reach $gateway through $mac"
echo "  reached the gateway $gateway through the ENI"
ip netns exec "$ns" ping -c 1 -W 5 169.254.172.1 >/dev/null || die "the task cannot reach the bridge 169.254.172.1"
echo "  reached the host bridge 169.254.172.1 through ecs-eth0"

trap - EXIT
cleanup
ip -o link show "$host_name" >/dev/null 2>&1 || die "$host_name did not come back to the host"
echo "  DEL: $host_name is back in the host"
