/**
 * Installs the Debian packages the benchmark needs when they are missing, the way scripts/test.sh
 * does: a temporary policy-rc.d keeps ocserv's system service from starting on the host (the
 * benchmark runs its own ocserv inside a namespace).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';

/**
 *   ocserv, openconnect, vpnc-scripts: the reference gateway and client (+ its host script)
 *   iperf3: throughput;  iproute2: namespaces;  openssl: certificates;  util-linux: taskset, prlimit
 *   redis-server: the cluster item (issue 12)
 */
export const PACKAGES = ['ocserv', 'openconnect', 'vpnc-scripts', 'iperf3', 'iproute2', 'iputils-ping', 'openssl', 'ca-certificates', 'util-linux', 'redis-server'];

function installed(pkg: string): boolean {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

/** Returns the packages it installed; throws when apt-get fails. */
export function ensurePackages(log: (s: string) => void): string[] {
  const missing = PACKAGES.filter((p) => !installed(p));
  if (missing.length === 0) return [];
  log(`installing Debian packages: ${missing.join(' ')}`);
  const policy = '/usr/sbin/policy-rc.d';
  const addedPolicy = !existsSync(policy);
  if (addedPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const up = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    if (up.status !== 0) throw new Error('apt-get update failed');
    const inst = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
    if (inst.status !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed`);
  } finally {
    if (addedPolicy) rmSync(policy, { force: true });
  }
  return missing;
}
