/**
 * Runs Debian's keepalived (VRRP only) as a test-owned foreground process in a namespace: its
 * config, pid files and check script in a temp dir, never the system service. Two of them (one per
 * gateway namespace) share a virtual IP; VRRP adverts go unicast to the peer (no multicast needed
 * on the test bridge).
 *
 * A node gives up the VIP when its check fails (keepalived vrrp_script with `weight`: the priority
 * drops below the peer's): the check is "the gateway answers TCP on its port and is not draining"
 * (the STATE/draining file that `sslgate ctl drain` writes), as the README's example does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasCommand, tempDir, type Ns, type NsProcess } from './netns.js';
import { prerequisite } from './prerequisites.js';

export function keepalivedSkipReason(): string | false {
  return prerequisite('VRRP failover tests (keepalived)', hasCommand('keepalived') || fs.existsSync('/usr/sbin/keepalived') ? false : 'missing program: keepalived (Debian package keepalived; scripts/test.sh installs it)');
}

export interface KeepalivedOptions {
  /** interface on the shared segment */
  iface: string;
  /** this node's address on it, and the peer's */
  self: string;
  peer: string;
  /** the virtual IP with its prefix, e.g. 10.88.0.10/24 */
  vip: string;
  priority: number;
  /** virtual_router_id, 1-255 */
  vrid: number;
  /** gateway to check: TCP host:port and its state folder (draining file) */
  check?: { host: string; port: number; state: string };
}

export interface Keepalived {
  proc: NsProcess;
  dir: string;
  /** writes the config that README.md "Running a cluster" shows (for the record) */
  config: string;
  stop(): Promise<void>;
}

const BIN = fs.existsSync('/usr/sbin/keepalived') ? '/usr/sbin/keepalived' : 'keepalived';

export function keepalivedConfig(o: KeepalivedOptions, checkScript: string | null, name: string): string {
  const lines = [
    'global_defs {',
    `  router_id ${name}`,
    '  script_user root',
    '  # VRRP adverts every second; the backup takes over after ~3 missed ones',
    '}',
  ];
  if (checkScript) {
    lines.push(
      'vrrp_script chk_sslgate {',
      `  script "${checkScript}"`,
      '  interval 1',
      '  timeout 2',
      '  fall 1',
      '  rise 1',
      '  # a failing check (gateway down or draining) drops this node below its peer',
      '  weight -100',
      '}',
    );
  }
  lines.push(
    'vrrp_instance sslgate {',
    '  state BACKUP',
    `  interface ${o.iface}`,
    `  virtual_router_id ${o.vrid}`,
    `  priority ${o.priority}`,
    '  advert_int 1',
    `  unicast_src_ip ${o.self}`,
    `  unicast_peer { ${o.peer} }`,
    `  virtual_ipaddress { ${o.vip} dev ${o.iface} }`,
    ...(checkScript ? ['  track_script { chk_sslgate }'] : []),
    '}',
  );
  return lines.join('\n') + '\n';
}

/** The check script: the gateway accepts TCP on its port and does not drain. */
export function checkScriptText(c: { host: string; port: number; state: string }): string {
  return `#!/bin/bash
[ -e ${c.state}/draining ] && exit 1
exec timeout 2 bash -c 'exec 3<>/dev/tcp/${c.host}/${c.port}'
`;
}

export function startKeepalived(ns: Ns, o: KeepalivedOptions, name: string): Keepalived {
  const dir = tempDir('keepalived');
  let script: string | null = null;
  if (o.check) {
    script = path.join(dir, 'check-sslgate.sh');
    fs.writeFileSync(script, checkScriptText(o.check), { mode: 0o755 });
  }
  const config = keepalivedConfig(o, script, name);
  const conf = path.join(dir, 'keepalived.conf');
  fs.writeFileSync(conf, config);
  const proc = ns.spawn(BIN, ['-n', '-l', '-D', '-G', '-P', '-f', conf, '-p', path.join(dir, 'k.pid'), '-r', path.join(dir, 'vrrp.pid'), '-c', path.join(dir, 'chk.pid')], { label: `keepalived@${name}` });
  return {
    proc,
    dir,
    config,
    async stop() {
      await proc.stop('SIGTERM', 5000);
    },
  };
}

/** True when `ns` has the address `vip` (without prefix) on `iface`. */
export async function holdsVip(ns: Ns, iface: string, vip: string): Promise<boolean> {
  const r = await ns.exec('ip', ['-o', '-4', 'addr', 'show', 'dev', iface], { timeoutMs: 5000 });
  return r.stdout.includes(` ${vip}/`);
}
