#!/usr/bin/env bash
# npm's install step: builds the TUN addon (native/tun.c) with node-gyp. On a fresh Debian
# machine (as root) it first installs the compiler node-gyp needs, so `npm ci` just works.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
need=()
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "build-addon: installing ${need[*]} (needed to build the TUN addon)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    echo "build-addon: missing ${need[*]}: install them (e.g. apt-get install ${need[*]}) and run npm ci again" >&2
    exit 1
  fi
fi
# npm puts its bundled node-gyp on PATH for lifecycle scripts.
exec node-gyp rebuild
