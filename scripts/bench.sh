#!/usr/bin/env bash
# npm run bench -- NAME: starts what the benchmark needs (a fresh Postgres, an image store, the
# built server) exactly as the tests do, runs bench/NAME.ts, and stops everything.
source "$(dirname "$0")/lib.sh"

NAME="${1:-}"
[ -n "$NAME" ] && [ -f "$ROOT/bench/$NAME.ts" ] || die "usage: npm run bench -- NAME   (one of: $(cd "$ROOT/bench" && ls ./*.ts | sed 's|./||; s|\.ts$||' | tr '\n' ' '))"

ensure_debian_packages postgresql curl ca-certificates qemu-utils qemu-system-x86
ensure_node_modules
cd "$ROOT"

PG_DATA="$(mktemp -d /tmp/twinboot-bench-pg.XXXXXX)"
WORK="$(mktemp -d /var/tmp/twinboot-bench.XXXXXX)"
PG_PORT="$(free_port)"
PG_PASSWORD="$(random_secret 24 | tr -d '/+=')"
SERVER_PID=""
cleanup() {
  local status=$?
  set +e
  if [ -n "$SERVER_PID" ]; then kill -TERM -- "-$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  # A benchmark's pool host (bench/bench-pool.ts), should the benchmark itself not have stopped it.
  [ -d "$WORK/pool" ] && bash "$ROOT/scripts/test-pool.sh" down "$WORK/pool"
  stop_postgres "$PG_DATA"
  rm -rf "$PG_DATA" "$WORK"
  exit $status
}
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM

start_postgres "$PG_DATA" "$PG_PORT" "$PG_PASSWORD" >&2
create_database "$PG_PORT" "$PG_PASSWORD" twinboot_bench
APP_PORT="$(free_port)"
export NODE_ENV=production HOST=127.0.0.1 PORT="$APP_PORT" APP_URL="http://localhost:$APP_PORT"
export DATABASE_URL="postgres://postgres:$PG_PASSWORD@127.0.0.1:$PG_PORT/twinboot_bench"
export AUTH_SECRET="$(random_secret 33)" DATA_ENCRYPTION_KEY="$(random_secret 32)"
export IMAGE_STORE_DIR="$WORK/images" BENCH_WORK_DIR="$WORK"
# Inspection would compete with the measured work for the two cores.
export INSPECTION_WORKER=false
if [ "$NAME" = session ] || [ "$NAME" = console ]; then
  # Their VMs run on a host of scripts/test-pool.sh, whose user reaches the store through this group.
  getent group twinboot-store >/dev/null || groupadd --system twinboot-store
  export IMAGE_STORE_GROUP=twinboot-store VM_SHUTDOWN_SECONDS=5
fi
[ "$NAME" = console ] && ensure_debian_packages websockify
[ "$NAME" = apply ] && ensure_debian_packages rsync
[ "$NAME" = changes ] && ensure_debian_packages libguestfs-tools debootstrap
node bin/twinboot.mjs db migrate >&2
if [ ! -f .next/BUILD_ID ]; then npm run build --silent >"$WORK/build.log" 2>&1 || die "the build failed"; fi
setsid node node_modules/.bin/tsx server.ts >"$WORK/server.log" 2>&1 < /dev/null &
SERVER_PID=$!
wait_for_http "http://127.0.0.1:$APP_PORT/healthz" 60 || die "the server did not start"
node_modules/.bin/tsx "bench/$NAME.ts"
