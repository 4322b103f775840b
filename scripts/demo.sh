#!/usr/bin/env bash
# npm run demo: installs what is missing, starts Postgres and the server, and prints the URL and
# the demo sign-in. Run it again at any time: it keeps the data and restarts the server.
source "$(dirname "$0")/lib.sh"

STATE="${TWINBOOT_STATE_DIR:-/var/lib/twinboot}"
PORT="${PORT:-3000}"
APP_URL="${APP_URL:-http://localhost:$PORT}"
DEMO_EMAIL="demo@twinboot.local"

ensure_debian_packages postgresql curl ca-certificates qemu-utils qemu-system-x86 \
  busybox-static extlinux syslinux-common e2fsprogs fdisk linux-image-amd64 libguestfs-tools \
  openssh-server tini libvirt-daemon-system libvirt-clients ovmf
ensure_node_modules

mkdir -p "$STATE"
# 711: the postgres user must reach $STATE/postgres; the secrets file itself is 0600.
chmod 711 "$STATE"
# Secrets are made once and kept, so a second run finds the same database and sessions.
if [ ! -f "$STATE/demo.env" ]; then
  # In a subshell, so that the umask stays with this file: folders made later (the hypervisor
  # user's home and its authorized_keys) must stay readable to their own users.
  (
  umask 077
  cat > "$STATE/demo.env" <<ENV
PG_PORT=5433
PG_PASSWORD=$(random_secret 24 | tr -d '/+=')
AUTH_SECRET=$(random_secret 33)
DATA_ENCRYPTION_KEY=$(random_secret 32)
DEMO_PASSWORD=$(node -e "const w=require('crypto').randomBytes(9).toString('base64url');console.log('twin-'+w)")
ENV
  )
fi
# shellcheck disable=SC1091
source "$STATE/demo.env"

say "Starting Postgres (port $PG_PORT, data in $STATE/postgres)"
start_postgres "$STATE/postgres" "$PG_PORT" "$PG_PASSWORD"
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

if ! node bin/twinboot.mjs user list | grep -q "$DEMO_EMAIL"; then
  say "Creating the demo user"
  printf '%s' "$DEMO_PASSWORD" | node bin/twinboot.mjs user add --email "$DEMO_EMAIL" --password-stdin --admin
fi

# Build when there is no build yet, or when a source file is newer than the last build.
STAMP=.next/twinboot-build-stamp
if [ ! -f "$STAMP" ] || [ -n "$(find app server db public next.config.ts serwist.config.js package-lock.json \
    -newer "$STAMP" ! -path public/sw.js ! -path public/sw.js.map -print -quit)" ]; then
  say "Building the app (a minute or two)"
  npm run build --silent >"$STATE/build.log" 2>&1 || { tail -n 30 "$STATE/build.log"; die "the build failed; the whole log is in $STATE/build.log"; }
  touch "$STAMP"
fi

# This machine is the demo's hypervisor host, reached over SSH like any other: a user of its own
# (twinboot-hv, whose libvirt is qemu:///session), an sshd of its own on 127.0.0.1 that takes only
# the key made here, registered once with its host key pinned. A production host runs libvirt as
# a system service and is added the same way (README, "Hypervisor hosts").
HV_DIR="$STATE/hypervisor"
HV_PORT="${HYPERVISOR_SSH_PORT:-2222}"
hypervisor_user twinboot-hv
mkdir -p "$IMAGE_STORE_DIR" "$HV_DIR"
chgrp -R twinboot-store "$IMAGE_STORE_DIR"
chmod 2750 "$IMAGE_STORE_DIR"
find "$IMAGE_STORE_DIR" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -exec chmod 2770 {} +
[ -f "$HV_DIR/client" ] || ssh-keygen -q -t ed25519 -N '' -C twinboot-demo -f "$HV_DIR/client"
if ! { [ -f "$HV_DIR/sshd/sshd.pid" ] && kill -0 "$(cat "$HV_DIR/sshd/sshd.pid")" 2>/dev/null; }; then
  say "Starting this machine's SSH endpoint for Twinboot (127.0.0.1:$HV_PORT, user twinboot-hv)"
  start_host_sshd "$HV_DIR/sshd" twinboot-hv 127.0.0.1 "$HV_PORT" "$HV_DIR/client.pub"
fi
if ! node bin/twinboot.mjs hypervisor list | grep -q '^this-machine\b'; then
  say "Registering this machine as the default hypervisor host"
  node bin/twinboot.mjs hypervisor add --name this-machine --ssh "twinboot-hv@127.0.0.1:$HV_PORT" --key "$HV_DIR/client" \
    --libvirt-uri qemu:///session --fingerprint "$(ssh-keygen -lf "$HV_DIR/sshd/hostkey.pub" | awk '{print $2}')"
fi

if [ -f "$STATE/server.pid" ] && kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null; then
  say "Stopping the previous server"
  kill -TERM -- "-$(cat "$STATE/server.pid")" 2>/dev/null || true
  for _ in $(seq 40); do kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null || break; sleep 0.25; done
fi

say "Starting the server"
setsid node node_modules/.bin/tsx server.ts >"$STATE/server.log" 2>&1 < /dev/null &
echo $! > "$STATE/server.pid"
wait_for_http "http://127.0.0.1:$PORT/healthz" 60 || { tail -n 30 "$STATE/server.log"; die "the server did not start; see $STATE/server.log"; }

# The demo machine: the test fixture's "office PC" disk stands in for a physical computer. Its
# agent takes a base image, a visible change is made to the disk, and an incremental follows.
if [ ! -f "$STATE/agent/agent.json" ]; then
  say "Backing up the demo machine (a base and an incremental image)"
  mkdir -p "$STATE/agent"
  fixture="$(bash e2e/fixtures/build-office-pc.sh 2>"$STATE/fixture.log" | tail -n 1)" || die "building the demo disk failed; see $STATE/fixture.log"
  cp --sparse=always "$fixture" "$STATE/agent/office-pc.raw"
  token="$(node bin/twinboot.mjs machine add --owner "$DEMO_EMAIL" --name "Office PC" | tail -n 1)"
  agent=(node bin/twinboot-agent.mjs)
  "${agent[@]}" enroll --server "$APP_URL" --token "$token" --config "$STATE/agent/agent.json"
  node -e 'const f=process.argv[1];const c=JSON.parse(require("fs").readFileSync(f));c.device=process.argv[2];c.stateDir=process.argv[3];require("fs").writeFileSync(f,JSON.stringify(c,null,2),{mode:0o600})' \
    "$STATE/agent/agent.json" "$STATE/agent/office-pc.raw" "$STATE/agent/state"
  "${agent[@]}" backup --config "$STATE/agent/agent.json"
  mnt="$(mktemp -d)"
  loop="$(losetup --find --show --offset 1048576 "$STATE/agent/office-pc.raw")"
  mount "$loop" "$mnt"
  printf 'Quarterly numbers, revised on %s\n' "$(date -u +%F)" > "$mnt/home/alice/Documents/report.txt"
  printf 'Remember to water the plants.\n' > "$mnt/home/alice/Documents/todo.txt"
  umount "$mnt" && losetup --detach "$loop" && rmdir "$mnt"
  "${agent[@]}" backup --config "$STATE/agent/agent.json"
fi

# The demo machine's "physical computer" is that disk, loop-mounted read-write at
# $STATE/agent/office-pc, with its agent running in prompt mode (the machine's default): changes
# sent home from a session wait there for `twinboot-agent apply` (README, "Bringing changes home").
COMPUTER="$STATE/agent/office-pc"
mkdir -p "$COMPUTER"
if ! mountpoint -q "$COMPUTER"; then
  loop="$(losetup --associated "$STATE/agent/office-pc.raw" | cut -d: -f1 | head -n 1)"
  [ -n "$loop" ] || loop="$(losetup --find --show --offset 1048576 "$STATE/agent/office-pc.raw")"
  mount "$loop" "$COMPUTER"
fi
# Scheduled backups of the mounted disk freeze it for the moment they read it.
node -e 'const f=process.argv[1];const c=JSON.parse(require("fs").readFileSync(f));c.applyRoot=process.argv[2];c.whenMounted="freeze";require("fs").writeFileSync(f,JSON.stringify(c,null,2),{mode:0o600})' \
  "$STATE/agent/agent.json" "$COMPUTER"
if [ -f "$STATE/agent/agent.pid" ] && kill -0 "$(cat "$STATE/agent/agent.pid")" 2>/dev/null; then
  kill -TERM "$(cat "$STATE/agent/agent.pid")" 2>/dev/null || true
  sleep 1
fi
say "Starting the demo machine's agent (apply-back in prompt mode, root $COMPUTER)"
setsid node bin/twinboot-agent.mjs run --config "$STATE/agent/agent.json" >>"$STATE/agent/agent.log" 2>&1 < /dev/null &
echo $! > "$STATE/agent/agent.pid"

cat <<DONE

  Twinboot is running at  $APP_URL
  Sign in with            $DEMO_EMAIL
                          $DEMO_PASSWORD

  Server log: $STATE/server.log     Stop it: kill -- -$(cat "$STATE/server.pid")

  The demo machine's disk is mounted at $COMPUTER; its agent logs to $STATE/agent/agent.log.
  Changes you send home from a session wait there; review and apply them with
    node bin/twinboot-agent.mjs apply --config $STATE/agent/agent.json
DONE
