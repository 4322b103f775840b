#!/usr/bin/env bash
# npm run demo: installs what is missing, starts Postgres and the server, and prints the URL and
# the demo sign-in. Run it again at any time: it keeps the data and restarts the server.
# npm run demo -- stop: stops everything the demo started (README, "Quick start").
source "$(dirname "$0")/lib.sh"

ACTION="${1:-start}"
case "$ACTION" in start | stop) ;; *) die "usage: npm run demo [-- stop]  (bash scripts/demo.sh [start | stop])" ;; esac

[ "$(id -u)" -eq 0 ] || die "the demo runs as root: it installs packages, adds a user and an sshd, and mounts a disk image"
STATE="$(realpath -m "${TWINBOOT_STATE_DIR:-/var/lib/twinboot}")"
DEMO_EMAIL="demo@twinboot.local"
HV_DIR="$STATE/hypervisor"
AGENT_CONFIG="$STATE/agent/agent.json"
DISK="$STATE/agent/office-pc.raw"
COMPUTER="$STATE/agent/office-pc"

# pid_of PIDFILE WORD: the pid in PIDFILE while that process lives and its command line has WORD
# (after a reboot, a pid file may name somebody else's process).
pid_of() {
  local pid
  [ -f "$1" ] && pid="$(cat "$1")" && [ -n "$pid" ] || return 1
  { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$2" || return 1
  echo "$pid"
}

# stop_group PID: SIGTERM to its process group; SIGKILL if it is still there after 25 s (the
# server gives open requests 20 s).
stop_group() {
  local pid="$1"
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 100); do pid_alive "$pid" || return 0; sleep 0.25; done
  kill -KILL -- "-$pid" 2>/dev/null || true
}

# pid_alive PID: running, not a zombie waiting for a parent (or a container's init) to reap it.
pid_alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  [ "$(echo "${stat##*) }" | cut -d' ' -f1)" != Z ]
}

port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# release_disk: unmounts the demo disk wherever it is mounted and detaches its loop devices.
release_disk() {
  local loop target
  [ -f "$DISK" ] || return 0
  for loop in $(losetup --associated "$DISK" | cut -d: -f1); do
    for target in $(findmnt -rn -S "$loop" -o TARGET); do umount "$target"; done
    losetup --detach "$loop"
  done
}

stop_agent() {
  local pid
  if pid="$(pid_of "$STATE/agent/agent.pid" "$AGENT_CONFIG")"; then stop_group "$pid"; fi
}

stop_server() {
  local pid
  if pid="$(pid_of "$STATE/server.pid" server.ts)"; then
    say "Stopping the server"
    stop_group "$pid"
  fi
}

if [ "$ACTION" = stop ]; then
  [ -f "$STATE/demo.env" ] || die "there is no demo in $STATE (set TWINBOOT_STATE_DIR to the one you started)"
  stop_agent
  stop_server
  # Its VMs: the QEMU processes of the hypervisor user with a disk in this demo's image store (any
  # other demo's VMs, in another store, run on). What they wrote is kept: their sessions show as
  # failed at the next start, to be saved or discarded.
  if id twinboot-hv >/dev/null 2>&1; then
    for pid in $(pgrep -u twinboot-hv qemu-system || true); do
      if { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$STATE/images/"; then
        say "Stopping VM process $pid"
        kill -TERM "$pid" 2>/dev/null || true
      fi
    done
  fi
  if pid="$(pid_of "$HV_DIR/sshd/sshd.pid" "$HV_DIR/sshd/sshd_config")"; then
    say "Stopping the SSH endpoint"
    kill -TERM "$pid" 2>/dev/null || true
  fi
  release_disk
  say "Stopping Postgres"
  stop_postgres "$STATE/postgres"
  say "The demo in $STATE is stopped; its data stays there (npm run demo starts it again)"
  exit 0
fi

ensure_debian_packages postgresql curl ca-certificates qemu-utils qemu-system-x86 \
  busybox-static extlinux syslinux-common e2fsprogs fdisk linux-image-amd64 libguestfs-tools \
  openssh-server tini libvirt-daemon-system libvirt-clients ovmf procps
ensure_node_modules

# Ports from the environment, else those of the last run (kept in demo.env), else the defaults.
WANT_PORT="${PORT:-}" WANT_PG_PORT="${POSTGRES_PORT:-}" WANT_HV_PORT="${HYPERVISOR_SSH_PORT:-}"

mkdir -p "$STATE"
# 711: the postgres user must reach $STATE/postgres; the secrets file itself is 0600.
chmod 711 "$STATE"
runuser -u postgres -- test -x "$STATE" \
  || die "$STATE is inside a folder that other users cannot enter (Postgres and the hypervisor user must); choose another TWINBOOT_STATE_DIR, not under /root"
# Secrets are made once and kept, so a second run finds the same database and sessions.
if [ ! -f "$STATE/demo.env" ]; then
  # In a subshell, so that the umask stays with this file: folders made later (the hypervisor
  # user's home and its authorized_keys) must stay readable to their own users.
  (
  umask 077
  cat > "$STATE/demo.env" <<ENV
PG_PASSWORD=$(random_secret 24 | tr -d '/+=')
AUTH_SECRET=$(random_secret 33)
DATA_ENCRYPTION_KEY=$(random_secret 32)
DEMO_PASSWORD=$(node -e "const w=require('crypto').randomBytes(9).toString('base64url');console.log('twin-'+w)")
ENV
  )
fi
unset APP_PORT PG_PORT HV_PORT
# shellcheck disable=SC1091
source "$STATE/demo.env"
PORT="${WANT_PORT:-${APP_PORT:-3000}}"
PG_PORT="${WANT_PG_PORT:-${PG_PORT:-5433}}"
HV_PORT="${WANT_HV_PORT:-${HV_PORT:-2222}}"
for port in "$PORT" "$PG_PORT" "$HV_PORT"; do
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "$port is not a port number (PORT, POSTGRES_PORT, HYPERVISOR_SSH_PORT)"
done
[ "$PORT" != "$PG_PORT" ] && [ "$PORT" != "$HV_PORT" ] && [ "$PG_PORT" != "$HV_PORT" ] || die "PORT, POSTGRES_PORT and HYPERVISOR_SSH_PORT must differ"
APP_URL="${APP_URL:-http://localhost:$PORT}"

# A previous run's server goes first: migrations and a rebuild must not happen under it. Its agent
# before it, as the server would wait for the agent's event stream to close.
stop_agent
stop_server

PG_DATA="$STATE/postgres"
# A Postgres of this demo's still running on another port (POSTGRES_PORT changed) is restarted.
if [ -f "$PG_DATA/postmaster.pid" ] && [ "$(sed -n 4p "$PG_DATA/postmaster.pid")" != "$PG_PORT" ]; then stop_postgres "$PG_DATA"; fi
if ! runuser -u postgres -- "$(pg_bindir)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1 && port_busy "$PG_PORT"; then
  die "port $PG_PORT is taken by another program; start the demo with another POSTGRES_PORT"
fi
say "Starting Postgres (port $PG_PORT, data in $PG_DATA)"
start_postgres "$PG_DATA" "$PG_PORT" "$PG_PASSWORD"
create_database "$PG_PORT" "$PG_PASSWORD" twinboot

export NODE_ENV=production HOST=127.0.0.1 PORT APP_URL AUTH_SECRET DATA_ENCRYPTION_KEY
export IMAGE_STORE_DIR="$STATE/images"
# The hypervisor host's VMs read images and write session overlays through this group.
export IMAGE_STORE_GROUP=twinboot-store
# The demo disk has no ACPI daemon: a VM that ignores the power button is stopped after 20 s.
export VM_SHUTDOWN_SECONDS="${VM_SHUTDOWN_SECONDS:-20}"
export DATABASE_URL="postgres://postgres:$PG_PASSWORD@127.0.0.1:$PG_PORT/twinboot"
cd "$ROOT"

say "Migrating the database"
node bin/twinboot.mjs db migrate

if ! node bin/twinboot.mjs user list | grep -qF "$DEMO_EMAIL"; then
  say "Creating the demo user"
  printf '%s' "$DEMO_PASSWORD" | node bin/twinboot.mjs user add --email "$DEMO_EMAIL" --password-stdin --admin
fi

# The same check as `npm test`'s: after either, the other finds the build fresh.
build_app_if_stale "$STATE/build.log"

# This machine is the demo's hypervisor host, reached over SSH like any other: a user of its own
# (twinboot-hv, whose libvirt is qemu:///session), an sshd of its own on 127.0.0.1 that takes only
# the key made here, registered once with its host key pinned. A production host runs libvirt as
# a system service and is added the same way (README, "Hypervisor hosts"). Another demo (another
# TWINBOOT_STATE_DIR) shares the user and its libvirt, but not the sshd, the key or the store.
hypervisor_user twinboot-hv
# Debian's /dev/kvm is for the kvm group: without it every VM would run under TCG, even where
# KVM works (the host's KVM probe decides, at registration).
if getent group kvm >/dev/null; then usermod -a -G kvm twinboot-hv; fi
mkdir -p "$IMAGE_STORE_DIR" "$HV_DIR"
chgrp -R twinboot-store "$IMAGE_STORE_DIR"
chmod 2750 "$IMAGE_STORE_DIR"
find "$IMAGE_STORE_DIR" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -exec chmod 2770 {} +
[ -f "$HV_DIR/client" ] || ssh-keygen -q -t ed25519 -N '' -C twinboot-demo -f "$HV_DIR/client"
if sshd_pid="$(pid_of "$HV_DIR/sshd/sshd.pid" "$HV_DIR/sshd/sshd_config")" \
    && ! grep -qx "ListenAddress 127.0.0.1:$HV_PORT" "$HV_DIR/sshd/sshd_config"; then
  kill -TERM "$sshd_pid" 2>/dev/null || true
  for _ in $(seq 20); do pid_alive "$sshd_pid" || break; sleep 0.25; done
fi
if ! pid_of "$HV_DIR/sshd/sshd.pid" "$HV_DIR/sshd/sshd_config" >/dev/null; then
  port_busy "$HV_PORT" && die "port $HV_PORT is taken by another program; start the demo with another HYPERVISOR_SSH_PORT"
  say "Starting this machine's SSH endpoint for Twinboot (127.0.0.1:$HV_PORT, user twinboot-hv)"
  start_host_sshd "$HV_DIR/sshd" twinboot-hv 127.0.0.1 "$HV_PORT" "$HV_DIR/client.pub"
fi
registered="$(node bin/twinboot.mjs hypervisor list | grep '^this-machine\b' || true)"
if [ -n "$registered" ] && ! grep -qF "@127.0.0.1:$HV_PORT " <<<"$registered"; then
  say "Registering this machine again, on its new SSH port"
  node bin/twinboot.mjs hypervisor remove this-machine
  registered=""
fi
if [ -z "$registered" ]; then
  say "Registering this machine as the default hypervisor host"
  node bin/twinboot.mjs hypervisor add --name this-machine --ssh "twinboot-hv@127.0.0.1:$HV_PORT" --key "$HV_DIR/client" \
    --libvirt-uri qemu:///session --fingerprint "$(ssh-keygen -lf "$HV_DIR/sshd/hostkey.pub" | awk '{print $2}')"
fi

port_busy "$PORT" && die "port $PORT is taken by another program; start the demo with another PORT"
say "Starting the server"
setsid node node_modules/.bin/tsx server.ts >"$STATE/server.log" 2>&1 < /dev/null &
echo $! > "$STATE/server.pid"
wait_for_http "http://127.0.0.1:$PORT/healthz" 60 && pid_alive "$(cat "$STATE/server.pid")" \
  || { tail -n 30 "$STATE/server.log"; die "the server did not start; see $STATE/server.log"; }

# The demo machine: the test fixture's "office PC" disk stands in for a physical computer. Its
# agent takes a base image, a visible change is made to the disk, and an incremental follows.
# Each step is marked done, so that a run interrupted here carries on where it stopped.
if [ ! -f "$AGENT_CONFIG" ] || [ -f "$STATE/agent/setup-incomplete" ]; then
  say "Backing up the demo machine (a base and an incremental image)"
  mkdir -p "$STATE/agent"
  touch "$STATE/agent/setup-incomplete"
  agent=(node bin/twinboot-agent.mjs)
  if [ ! -f "$AGENT_CONFIG" ]; then
    fixture="$(bash e2e/fixtures/build-office-pc.sh 2>"$STATE/fixture.log" | tail -n 1)" || die "building the demo disk failed; see $STATE/fixture.log"
    release_disk
    cp --sparse=always "$fixture" "$DISK"
    # Kept until enrolled: a rerun after a failed enrollment uses the same machine.
    [ -s "$STATE/agent/token" ] || node bin/twinboot.mjs machine add --owner "$DEMO_EMAIL" --name "Office PC" | tail -n 1 > "$STATE/agent/token"
    "${agent[@]}" enroll --server "$APP_URL" --token "$(cat "$STATE/agent/token")" --config "$AGENT_CONFIG"
    rm -f "$STATE/agent/token"
  fi
  node -e 'const f=process.argv[1];const c=JSON.parse(require("fs").readFileSync(f));c.device=process.argv[2];c.stateDir=process.argv[3];require("fs").writeFileSync(f,JSON.stringify(c,null,2),{mode:0o600})' \
    "$AGENT_CONFIG" "$DISK" "$STATE/agent/state"
  if [ ! -f "$STATE/agent/base-done" ]; then
    "${agent[@]}" backup --config "$AGENT_CONFIG"
    touch "$STATE/agent/base-done"
  fi
  release_disk
  mnt="$(mktemp -d)"
  loop="$(losetup --find --show --offset 1048576 "$DISK")"
  mount "$loop" "$mnt"
  printf 'Quarterly numbers, revised on %s\n' "$(date -u +%F)" > "$mnt/home/alice/Documents/report.txt"
  printf 'Remember to water the plants.\n' > "$mnt/home/alice/Documents/todo.txt"
  umount "$mnt" && losetup --detach "$loop" && rmdir "$mnt"
  "${agent[@]}" backup --config "$AGENT_CONFIG"
  rm -f "$STATE/agent/base-done" "$STATE/agent/setup-incomplete"
fi

# The demo machine's "physical computer" is that disk, loop-mounted read-write at
# $STATE/agent/office-pc, with its agent running in prompt mode (the machine's default): changes
# sent home from a session wait there for `twinboot-agent apply` (README, "Bringing changes home").
mkdir -p "$COMPUTER"
if ! mountpoint -q "$COMPUTER"; then
  release_disk
  mount "$(losetup --find --show --offset 1048576 "$DISK")" "$COMPUTER"
fi
# Scheduled backups of the mounted disk freeze it for the moment they read it. The server's
# address follows PORT.
node -e 'const f=process.argv[1];const c=JSON.parse(require("fs").readFileSync(f));c.server=process.argv[2];c.applyRoot=process.argv[3];c.whenMounted="freeze";require("fs").writeFileSync(f,JSON.stringify(c,null,2),{mode:0o600})' \
  "$AGENT_CONFIG" "$APP_URL" "$COMPUTER"
say "Starting the demo machine's agent (apply-back in prompt mode, root $COMPUTER)"
setsid node bin/twinboot-agent.mjs run --config "$AGENT_CONFIG" >>"$STATE/agent/agent.log" 2>&1 < /dev/null &
echo $! > "$STATE/agent/agent.pid"

# The ports of the last run that came up, for the next run to use unless told otherwise.
remember() {
  if grep -q "^$1=" "$STATE/demo.env"; then sed -i "s/^$1=.*/$1=$2/" "$STATE/demo.env"; else echo "$1=$2" >> "$STATE/demo.env"; fi
}
remember APP_PORT "$PORT"
remember PG_PORT "$PG_PORT"
remember HV_PORT "$HV_PORT"

cat <<DONE

  Twinboot is running at  $APP_URL
  Sign in with            $DEMO_EMAIL
                          $DEMO_PASSWORD

  Server log: $STATE/server.log
  Stop it all:            $([ "$STATE" = /var/lib/twinboot ] || printf 'TWINBOOT_STATE_DIR=%s ' "$STATE")npm run demo -- stop

  The demo machine's disk is mounted at $COMPUTER; its agent logs to $STATE/agent/agent.log.
  Changes you send home from a session wait there; review and apply them with
    node bin/twinboot-agent.mjs apply --config $AGENT_CONFIG
DONE
