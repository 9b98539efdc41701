#!/usr/bin/env bash
# npm run bench: installs the peers (nginx, HAProxy, wrk) when missing, then runs bench/run.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
command -v haproxy >/dev/null || missing+=(haproxy)
command -v wrk >/dev/null || missing+=(wrk)
command -v taskset >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" # the hard limit here is 20,000: enough for 5,000 held requests
node --expose-gc --import tsx bench/run.ts "$@"
echo
taskset -c 1 node --import tsx bench/policy.ts
echo
taskset -c 0 node --import tsx bench/ens.ts
