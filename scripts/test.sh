#!/usr/bin/env bash
# `npm test`: install the Debian packages the tests need (if missing), build,
# then run every compiled test file with node's test runner.
#
#   npm test                                    # full suite (needs root)
#   npm test -- dist/test/unit/cstp.test.js     # just these files
#   npm test -- --test-name-pattern=DTLS        # options go to node --test
#                                                 (use --opt=value forms)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian packages used by the tests:
#   openconnect, vpnc-scripts: reference client (+ the script that configures its TUN)
#   ocserv: reference gateway (also provides ocpasswd)
#   iproute2: ip netns / veth / addresses;  iputils-ping: ping
#   openssl: test certificates;  ca-certificates: openssl's default trust dir
#   nftables: nft, to drop the gateway's UDP port in client DTLS fallback tests
#   iperf3: the benchmark smoke (npm run bench -- --quick) that .ci/run runs after the tests
#   freeradius, freeradius-utils: the RADIUS server (and radclient) the auth tests start
#   slapd, ldap-utils: the LDAP server (and ldapadd/slapadd tools) the auth tests start
#   oathtool: reference TOTP codes for the TOTP tests;  zbar-tools: zbarimg reads back the QR code `user totp` prints
#   redis-server: the cluster store (RedisStore tests, cluster acceptance);  keepalived: the VRRP virtual IP of the failover test
PACKAGES=(openconnect ocserv vpnc-scripts iproute2 iputils-ping openssl ca-certificates nftables iperf3 freeradius freeradius-utils slapd ldap-utils oathtool zbar-tools redis-server keepalived)

is_root() { [ "$(id -u)" -eq 0 ]; }

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

install_packages() {
  local missing
  missing=$(missing_packages)
  [ -z "$missing" ] && return 0
  if ! is_root; then
    echo "test.sh: missing Debian packages: $missing (run as root to install them)" >&2
    return 0
  fi
  echo "test.sh: installing Debian packages: $missing" >&2
  # Keep the packages' services (ocserv) from starting on the host: tests run
  # their own ocserv in namespaces. Only add the policy if none exists.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added_policy=1
  fi
  local rc=0
  apt-get update -qq || rc=$?
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  [ "$rc" -eq 0 ] && { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing || rc=$?; }
  if [ "$added_policy" -eq 1 ]; then rm -f "$policy"; fi
  return "$rc"
}

build() {
  # Incremental: a no-op when nothing changed. Type errors fail the run.
  npx --no-install tsc -p tsconfig.json
  # The bundle bin/sslgate runs (it falls back to dist/src when the bundle is older than tsc's
  # output, so a stale one is never run; rebuilding keeps the tests on the bundle).
  node scripts/bundle.mjs
  if [ -f binding.gyp ] && [ ! -f build/Release/sslgate_tun.node ]; then
    if command -v node-gyp >/dev/null 2>&1; then node-gyp rebuild; else npx --yes node-gyp rebuild; fi
  fi
}

# Remove namespaces/processes/temp dirs left by test processes that were killed.
sweep() {
  if is_root && [ -f dist/test/helpers/netns.js ]; then
    node dist/test/helpers/netns.js sweep || true
  fi
}

files=()
opts=()
for a in "$@"; do
  case "$a" in
    -*) opts+=("$a") ;;
    *) files+=("$a") ;;
  esac
done

if ! is_root && [ ${#files[@]} -eq 0 ]; then
  cat >&2 <<'MSG'
test.sh: the full suite must run as root: the interop tests create network
namespaces, veth pairs and TUN devices and run ocserv/openconnect in them.
Run it as root (CI does), or name test files to run just those; interop
tests then skip themselves, e.g.:  npm test -- dist/test/unit/cstp.test.js
MSG
  exit 1
fi

install_packages
build
trap sweep EXIT

if [ ${#files[@]} -eq 0 ]; then
  # node 20's --test does not expand globs: list the files ourselves.
  mapfile -t files < <(find dist/test -type f -name '*.test.js' | sort)
  if [ ${#files[@]} -eq 0 ]; then
    echo "test.sh: no test files under dist/test" >&2
    exit 1
  fi
fi

# --test-concurrency=2: two test files at a time (2 cores); each file gets
# its own namespaces, so parallel files do not interfere.
# --test-timeout: no single test may hang CI (a later option given by the
# caller overrides it).
# --import exit-guard: a file whose tests are done but whose process is still held open (60 s)
# (a server, socket, child or timer not closed) fails, naming what is open, instead of
# hanging. Not --test-force-exit: it can lose a file's last verdicts (nodejs/node#64833).
# Reporters: node's usual one (spec on a terminal, TAP otherwise), then a summary of the failed
# tests (dist/test/helpers/failure-summary.js) at the very end, where a CI log's tail shows it.
main_reporter=tap
[ -t 1 ] && main_reporter=spec
node --test --test-concurrency=2 --test-timeout=300000 --import ./dist/test/helpers/exit-guard.js \
  --test-reporter="$main_reporter" --test-reporter-destination=stdout \
  --test-reporter=./dist/test/helpers/failure-summary.js --test-reporter-destination=stdout \
  "${opts[@]}" "${files[@]}"
