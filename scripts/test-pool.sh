#!/usr/bin/env bash
# scripts/test-pool.sh up DIR [COUNT [FIRST]] | down DIR
#
# A hypervisor pool for tests, on this machine: COUNT (default 2) hosts hv1, hv2, … (numbered
# from FIRST, default 1, so that a benchmark's pool and the tests' can coexist). Each is a
# network namespace (tbhvN, address 10.77.N.2, reached from here through a veth pair) running an
# sshd of its own (keys only, one user, its own host key) in front of a libvirt of its own: the
# qemu:///session daemon of the host's user tbhvN, which virsh starts on demand over SSH. Real
# hosts differ only in running libvirt as a system service.
#
# `up` writes DIR/pool.json ({"hosts":[{name, ssh, key, libvirtUri, sshdPidFile}]}); the client
# key is DIR/client. The hosts' users are in the group twinboot-store: give the image store to
# that group (IMAGE_STORE_GROUP=twinboot-store) so their VMs can read images and write overlays.
# `down` stops every sshd, libvirt and VM of the pool and removes the namespaces; the users and
# the group stay (nothing of theirs runs).
source "$(dirname "$0")/lib.sh"

ACTION="${1:-}"
DIR="${2:-}"
COUNT="${3:-2}"
FIRST="${4:-1}"
[ -n "$DIR" ] && { [ "$ACTION" = up ] || [ "$ACTION" = down ]; } || die "usage: scripts/test-pool.sh up DIR [COUNT [FIRST]] | down DIR"

host_down() {
  local n="$1" user="tbhv$1"
  if [ -f "$DIR/hv$n/sshd.pid" ]; then kill "$(cat "$DIR/hv$n/sshd.pid")" 2>/dev/null || true; fi
  # The session libvirtd, its QEMU processes and any login of the host's user.
  if id "$user" >/dev/null 2>&1; then pkill -KILL -u "$user" 2>/dev/null || true; fi
  ip link del "$user" 2>/dev/null || true
  ip netns del "$user" 2>/dev/null || true
}

if [ "$ACTION" = down ]; then
  for pidfile in "$DIR"/hv*/sshd.pid; do
    [ -e "$pidfile" ] || continue
    n="$(basename "$(dirname "$pidfile")")"
    host_down "${n#hv}"
  done
  exit 0
fi

ensure_debian_packages openssh-server tini libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils ovmf
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
chmod 755 "$DIR"
[ -f "$DIR/client" ] || ssh-keygen -q -t ed25519 -N '' -C twinboot-test-pool -f "$DIR/client"

hosts_json=""
for n in $(seq "$FIRST" $((FIRST + COUNT - 1))); do
  user="tbhv$n" host_dir="$DIR/hv$n" address="10.77.$n.2"
  host_down "$n"
  hypervisor_user "$user"
  ip netns add "$user"
  ip link add "$user" type veth peer name eth0 netns "$user"
  ip addr add "10.77.$n.1/24" dev "$user"
  ip link set "$user" up
  ip -n "$user" addr add "$address/24" dev eth0
  ip -n "$user" link set eth0 up
  ip -n "$user" link set lo up
  start_host_sshd "$host_dir" "$user" "$address" 22 "$DIR/client.pub" "$user"
  hosts_json+="${hosts_json:+,}{\"name\":\"hv$n\",\"ssh\":\"$user@$address:22\",\"key\":\"$DIR/client\",\"libvirtUri\":\"qemu:///session\",\"sshdPidFile\":\"$host_dir/sshd.pid\",\"sshdConfig\":\"$host_dir/sshd_config\",\"netns\":\"$user\"}"
done
printf '{"hosts":[%s]}\n' "$hosts_json" > "$DIR/pool.json"
say "Test pool of $COUNT host(s) is up: $DIR/pool.json"
