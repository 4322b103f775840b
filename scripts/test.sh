#!/usr/bin/env bash
# npm test: installs what the tests need, starts a fresh Postgres for this run, type-checks and
# lints, runs the unit and integration tests, builds the app, starts it, runs the end-to-end
# tests in Chromium, and stops everything it started. Exits non-zero on any failure.
source "$(dirname "$0")/lib.sh"

ensure_debian_packages postgresql curl ca-certificates chromium fonts-dejavu-core \
  qemu-utils qemu-system-x86 busybox-static extlinux syslinux-common e2fsprogs fdisk linux-image-amd64 libguestfs-tools \
  libvirt-clients libxml2-utils procps
ensure_node_modules
cd "$ROOT"

RUN_DIR="$ROOT/.test-run"
rm -rf "$RUN_DIR" && mkdir -p "$RUN_DIR"
# Postgres runs as the postgres user, which may not reach a checkout under /root.
PG_DATA="$(mktemp -d /tmp/twinboot-test-pg.XXXXXX)"
PG_PORT="$(free_port)"
IMAGE_STORE="$(mktemp -d /tmp/twinboot-test-images.XXXXXX)"
PG_PASSWORD="$(random_secret 24 | tr -d '/+=')"
SERVER_PID=""
# The hosts' users read their authorized_keys here, so not under a checkout that may be root's alone.
POOL_DIR="$(mktemp -d /tmp/twinboot-test-pool.XXXXXX)"

# Every process this run starts inherits this tag; none may outlive it (kill_tagged, below).
export TWINBOOT_TEST_RUN="$(random_secret 12 | tr -d '/+=')"

cleanup() {
  local status=$?
  set +e
  bash "$ROOT/scripts/test-pool.sh" down "$POOL_DIR"
  rm -rf "$POOL_DIR"
  if [ -n "$SERVER_PID" ]; then
    kill -TERM -- "-$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  kill_tagged "TWINBOOT_TEST_RUN=$TWINBOOT_TEST_RUN"
  stop_postgres "$PG_DATA"
  rm -rf "$PG_DATA" "$IMAGE_STORE"
  exit $status
}
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM

say "Starting a fresh Postgres for this run (port $PG_PORT)"
start_postgres "$PG_DATA" "$PG_PORT" "$PG_PASSWORD"
create_database "$PG_PORT" "$PG_PASSWORD" twinboot_test

APP_PORT="$(free_port)"
export NODE_ENV=production
export DATABASE_URL="postgres://postgres:$PG_PASSWORD@127.0.0.1:$PG_PORT/twinboot_test"
export APP_URL="http://localhost:$APP_PORT" HOST=127.0.0.1 PORT="$APP_PORT"
export AUTH_SECRET="$(random_secret 33)" DATA_ENCRYPTION_KEY="$(random_secret 32)"
export CHROMIUM_PATH=/usr/bin/chromium IMAGE_STORE_DIR="$IMAGE_STORE"

say "Type-checking and linting"
npx tsc --noEmit
npx eslint --max-warnings=0 .
bash scripts/check-boundaries.sh

say "Starting a test hypervisor pool of two hosts (network namespaces, each with sshd and libvirt)"
bash scripts/test-pool.sh up "$POOL_DIR" 2
export TEST_POOL="$POOL_DIR/pool.json"
# The hosts' VMs read images and write session overlays in the store, through their group.
export IMAGE_STORE_GROUP=twinboot-store
# The fixture has no ACPI daemon: do not wait two minutes for it to power off.
export VM_SHUTDOWN_SECONDS=5
chgrp twinboot-store "$IMAGE_STORE" && chmod 2750 "$IMAGE_STORE"

say "Migrating the test database"
node bin/twinboot.mjs db migrate

say "Unit and integration tests"
npx vitest run --project unit --project integration

# The demo's own check (scripts/lib.sh): the demo spec then finds the build fresh, and never
# rebuilds .next under this server.
build_app_if_stale "$RUN_DIR/build.log"

say "Starting the server on $APP_URL"
setsid node node_modules/.bin/tsx server.ts >"$RUN_DIR/server.log" 2>&1 < /dev/null &
SERVER_PID=$!
wait_for_http "http://127.0.0.1:$APP_PORT/healthz" 60 || { tail -n 40 "$RUN_DIR/server.log"; die "the server did not start"; }

say "End-to-end tests in Chromium"
npx vitest run --project e2e

say "All tests passed. Screenshots: e2e/screenshots/"
