# Shared shell functions for the demo and test scripts. Source it; do not run it.
# Everything here is idempotent: it installs or starts only what is missing.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf '\033[1;36m==>\033[0m %s\n' "$*"; }
die() { printf 'twinboot: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages that are not installed yet.
ensure_debian_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "needs Debian packages ${missing[*]}; run as root or install them first"
  say "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the packages' own services (postgresql's main cluster) from starting:
  # Twinboot runs its own Postgres instance.
  local own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
}

# Installs npm dependencies when node_modules is missing or older than the lockfile.
ensure_node_modules() {
  cd "$ROOT"
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "Installing npm packages"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

# What `npm run build` reads (the server itself runs from source through tsx). A file here newer
# than the stamp means the build is stale; so does a folder (a file removed), except public/,
# where the build itself writes the service worker.
BUILD_INPUTS=(app server db wire types public next.config.ts serwist.config.js postcss.config.mjs tsconfig.json
  package.json package-lock.json)
BUILD_STAMP=.next/twinboot-build-stamp

# build_is_fresh: whether the last build, marked by BUILD_STAMP, is newer than every build input.
build_is_fresh() {
  (cd "$ROOT" && [ -f "$BUILD_STAMP" ] && [ -z "$(find "${BUILD_INPUTS[@]}" -newer "$BUILD_STAMP" \
    ! -path public ! -path public/sw.js ! -path public/sw.js.map ! -name '*.test.ts' -print -quit 2>/dev/null)" ])
}

# build_app_if_stale LOG: runs `npm run build` (output to LOG) unless the build is fresh. The
# stamp takes the time the build started, so a file saved during a build makes the next call
# build again. The demo and `npm test` share it: a build made by either is fresh for the other.
build_app_if_stale() {
  local log="$1" started
  if build_is_fresh; then
    say "The app's build is up to date"
    return 0
  fi
  say "Building the app (a minute or two)"
  started="$(mktemp)"
  (cd "$ROOT" && npm run build --silent) >"$log" 2>&1 || { rm -f "$started"; tail -n 30 "$log"; die "the build failed; the whole log is in $log"; }
  # next build empties .next first, so the mark of its start waits outside.
  touch -r "$started" "$ROOT/$BUILD_STAMP" && rm -f "$started"
}

pg_bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] || die "PostgreSQL is not installed (apt-get install postgresql)"
  echo "$dir"
}

# start_postgres DATA_DIR PORT PASSWORD: creates the cluster if needed, starts it if stopped.
# It listens on 127.0.0.1 only and requires a password (scram-sha-256).
start_postgres() {
  local data="$1" port="$2" password="$3" bin
  bin="$(pg_bindir)"
  mkdir -p "$data"
  chown postgres:postgres "$data"
  chmod 700 "$data"
  if [ ! -f "$data/PG_VERSION" ]; then
    local pwfile
    pwfile="$(mktemp)"
    printf '%s\n' "$password" > "$pwfile"
    chown postgres "$pwfile"
    runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres --pwfile="$pwfile" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 >/dev/null
    rm -f "$pwfile"
  fi
  if ! runuser -u postgres -- "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$data" -w -l "$data/postgres.log" \
      -o "-p $port -k $data -c listen_addresses=127.0.0.1" start >/dev/null \
      || die "Postgres did not start; see $data/postgres.log"
  fi
}

stop_postgres() {
  local data="$1"
  [ -f "$data/PG_VERSION" ] || return 0
  runuser -u postgres -- "$(pg_bindir)/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
}

# create_database PORT PASSWORD NAME: creates the database if it does not exist.
create_database() {
  local port="$1" password="$2" name="$3"
  PGPASSWORD="$password" psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
    "select 1 from pg_database where datname = '$name'" | grep -q 1 \
    || PGPASSWORD="$password" psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "create database \"$name\"" >/dev/null
}

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

random_secret() {
  node -e "console.log(require('crypto').randomBytes(${1:-32}).toString('base64'))"
}

# wait_for_http URL SECONDS
wait_for_http() {
  local url="$1" deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

# hypervisor_user USER: the account a hypervisor host's libvirt (qemu:///session) runs as. It logs
# in with a key only ('*': no password) and is in the group twinboot-store, through which its VMs
# read images and write session overlays in the image store.
hypervisor_user() {
  local user="$1"
  getent group twinboot-store >/dev/null || groupadd --system twinboot-store
  id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
  usermod -p '*' -a -G twinboot-store "$user"
}

# start_host_sshd DIR USER ADDRESS PORT CLIENT_PUB [NETNS]: an sshd of its own in front of one
# hypervisor host's user, listening on ADDRESS:PORT (inside network namespace NETNS if given):
# keys only (CLIENT_PUB), only that user, its own host key DIR/hostkey; pid and log in DIR.
start_host_sshd() {
  local dir="$1" user="$2" address="$3" port="$4" client_pub="$5" netns="${6:-}"
  local run=()
  [ -n "$netns" ] && run=(ip netns exec "$netns")
  mkdir -p "$dir" /run/sshd
  [ -f "$dir/hostkey" ] || ssh-keygen -q -t ed25519 -N '' -C "$user" -f "$dir/hostkey"
  install -m 600 -o "$user" "$client_pub" "$dir/authorized_keys"
  cat > "$dir/sshd_config" <<CONF
ListenAddress $address:$port
HostKey $dir/hostkey
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AllowUsers $user
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
# DIR may be root's; sshd's ownership checks would refuse it.
StrictModes no
UsePAM no
CONF
  # Under a subreaper (tini -s), which reaps libvirt's daemonized QEMU processes the moment they
  # exit, as systemd does on a real host: where PID 1 reaps orphans only now and then (some
  # container inits), `virsh destroy` waits seconds for that.
  rm -f "$dir/sshd.pid"
  setsid "${run[@]}" tini -s -- /usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 50); do
    [ -s "$dir/sshd.pid" ] && "${run[@]}" bash -c "exec 3<>/dev/tcp/$address/$port" 2>/dev/null && return 0
    sleep 0.1
  done
  die "the sshd for $user on $address:$port did not start; see $dir/sshd.log"
}

# kill_tagged NAME=VALUE: kills every process whose environment holds NAME=VALUE (but this shell),
# so that nothing a run started — servers, appliances, daemons that left their process group —
# outlives it, passed or failed.
kill_tagged() {
  local tag="$1" pid found=()
  for environ in /proc/[0-9]*/environ; do
    pid="${environ#/proc/}"; pid="${pid%/environ}"
    [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] && continue
    if { tr '\0' '\n' < "$environ"; } 2>/dev/null | grep -qx -- "$tag"; then found+=("$pid"); fi
  done
  [ ${#found[@]} -eq 0 ] && return 0
  kill -TERM "${found[@]}" 2>/dev/null || true
  sleep 2
  kill -KILL "${found[@]}" 2>/dev/null || true
  echo "Stopped ${#found[@]} process(es) the run left behind."
}
