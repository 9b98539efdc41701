#!/usr/bin/env bash
# The system tools the tests use, installed when missing: `npm test` runs this first, so the README's one
# test command passes on a fresh machine. As root it installs them with apt-get; otherwise it prints the
# exact line to run and fails.
set -euo pipefail
declare -A PACKAGE=(
  [wbxml2xml]=libwbxml2-utils  # WBXML cross-checks against libwbxml
  [prometheus]=prometheus      # a real Prometheus scrape
  [redis-server]=redis-server  # store tests start their own
  [openssl]=openssl
  [curl]=curl                  # the lab test runs the printed curl commands
)
missing=()
for tool in "${!PACKAGE[@]}"; do command -v "$tool" >/dev/null || missing+=("${PACKAGE[$tool]}"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need: ${missing[*]}. Install them with:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} for the tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian prometheus package may start a service of its own; the tests start theirs.
(service prometheus stop || true) >/dev/null 2>&1
