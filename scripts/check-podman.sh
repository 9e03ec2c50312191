#!/usr/bin/env bash
# The engine runtime against Podman's Docker-compatible service, end to end (CI tests Docker;
# this is the scripted check for Podman). As root on Debian 12, after scripts/setup.sh:
#   bash scripts/check-podman.sh
# It installs podman if missing (starting no service), runs `podman system service` inside a
# netns of its own with its storage under a temp dir, starts a lab on that socket, runs the demo
# task and checks what the demo checks (web over 127.0.0.1, the page through the ENI, credentials,
# user, read-only root, the IMDS block, one hostname for the task), then removes everything.
# Podman runs health checks from systemd timers: without systemd (as in containers and CI
# sandboxes) the demo's HEALTHY dependency is turned into START here, and said so.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v podman >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; made_policy=1; fi
  apt-get update -qq && apt-get install -y -qq --no-install-recommends podman >/dev/null
  [ -n "$made_policy" ] && rm -f "$policy"
fi
[ -e dist/tasknet.cjs ] || npm run build >/dev/null

work=$(mktemp -d /tmp/tasknet-podman-XXXXXX)
ns="tnpod$$"
state="$work/state"
sock="$work/podman.sock"
tn() { bin/tasknet "$1" --state-dir "$state" "${@:2}"; }
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; status=1; }
status=0

cleanup() {
  tn lab down >/dev/null 2>&1 || true
  [ -n "${podman_pid:-}" ] && kill "$podman_pid" 2>/dev/null && wait "$podman_pid" 2>/dev/null || true
  for pid in $(pgrep -f "$work" || true); do kill -9 "$pid" 2>/dev/null || true; done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns"
nsenter --net="/var/run/netns/$ns" podman --root "$work/storage" --runroot "$work/run" --cgroup-manager cgroupfs \
  --events-backend file system service --time=0 "unix://$sock" > "$work/podman.log" 2>&1 &
podman_pid=$!
for _ in $(seq 200); do curl -sf --unix-socket "$sock" http://podman/_ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "podman $(podman --version | awk '{print $3}') serving $sock in netns $ns"

tn lab up --lab "$ns" --enis 2 --engine-socket "$sock" >/dev/null && pass "lab up on Podman's socket (images made offline)"
tn image build examples/demo -t tasknet-demo/app:1 >/dev/null && pass "image build on Podman"

task="$work/task.json"
if [ "$(cat /proc/1/comm)" = systemd ]; then cp examples/demo/task.json "$task"
else
  sed 's/"HEALTHY"/"START"/' examples/demo/task.json > "$task"
  echo "note no systemd here: Podman runs no health checks, so web depends on api START"
fi
cp examples/demo/*.mjs "$work/"
id=$(tn run "$task" --eni auto --json | node -pe 'JSON.parse(require("fs").readFileSync(0)).id')
pass "run: task $id"
page=""
for _ in $(seq 50); do page=$(nsenter --net="/var/run/netns/$ns-vpc" node examples/demo/client.mjs http://10.0.0.10/ 2>&1) && break; sleep 0.1; done
grep -q 'api over http://127.0.0.1:8080/ answered' <<<"$page" && pass "the page through the ENI; web reached api over 127.0.0.1" || fail "page: $page"
tn exec "$id" --container web -- node creds.mjs | grep -q -- '-> 200' && pass "the task reads its credentials" || fail "credentials"
[ "$(tn exec "$id" --container api -- id -u)" = 65534 ] && pass "user 65534" || fail "user"
{ tn exec "$id" --container api -- touch /x 2>&1 || true; } | grep -q 'Read-only' && pass "read-only root" || fail "read-only root"
{ tn exec "$id" --container web -- ip route del blackhole 169.254.169.254 2>&1 || true; } | grep -q 'not permitted' && pass "the IMDS blackhole stays (no NET_ADMIN)" || fail "IMDS block"
h1=$(tn exec "$id" --container web -- hostname); h2=$(tn exec "$id" --container api -- hostname)
[ "$h1" = "$h2" ] && [ "$h1" = ip-10-0-0-10 ] && pass "one hostname for the task: $h1" || fail "hostnames $h1 $h2"
tn stop "$id" >/dev/null && pass "stop"
left=$(curl -s --unix-socket "$sock" "http://podman/v1.41/containers/json?all=1")
[ "$left" = "[]" ] && pass "Podman holds no container of the task" || fail "left in Podman: $left"
tn lab down >/dev/null && pass "lab down"
[ "$status" = 0 ] && echo "Podman check passed" || echo "Podman check FAILED"
exit "$status"
