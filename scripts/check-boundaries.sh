#!/usr/bin/env bash
# Grep-level checks of the module boundaries that tsc and eslint do not see:
#   - only server/pool/ runs commands on hypervisor hosts: no "virsh" / 'virsh' argument, no
#     virsh( call and no runOnHost( call anywhere else (callers use server/pool/domain.ts and
#     server/pool/host-image.ts);
#   - wire/ (the schemas shared with the browser and the agent) imports nothing of the server,
#     the database, the app or the agent, and nothing from outside itself.
# Run from anywhere; prints every offending line and exits 1 if there is one.
set -euo pipefail
cd "$(dirname "$0")/.."

failed=0

remote="$(grep -rnE --include='*.ts' --include='*.tsx' --exclude-dir=node_modules --exclude-dir=.next \
  -e "[\"']virsh[\"']" -e '\bvirsh\(' -e '\brunOnHost\(' . | grep -v '^\./server/pool/' || true)"
if [[ -n "$remote" ]]; then
  echo "check-boundaries: only server/pool/ may run virsh or other commands on a host; use server/pool/domain.ts or host-image.ts instead:" >&2
  echo "$remote" >&2
  failed=1
fi

wire="$(grep -rnE --include='*.ts' --include='*.tsx' \
  -e "(from|import)[[:space:]]*\(?[[:space:]]*[\"'](@/(server|db|app|agent)([/\"']|$)|\.\./)" wire || true)"
if [[ -n "$wire" ]]; then
  echo "check-boundaries: wire/ must not import from @/server, @/db, @/app, @/agent or ../:" >&2
  echo "$wire" >&2
  failed=1
fi

if [[ "$failed" -ne 0 ]]; then exit 1; fi
echo "check-boundaries: ok"
