/**
 * A second client namespace for a testbed, so tests have two client source addresses (e.g. one
 * banned, one not). Its own veth pair to the gateway namespace, on 10.78.<slot>.0/30, and a host
 * route to the gateway's listen address (tb.gwAddr) over it. Named like the testbed's own
 * namespaces (`sg-<id>x-cl`), so the stale-testbed sweep of netns.ts also removes it, and removed
 * with the same synchronous cleanup registry.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Ns, registerCleanup, type Testbed } from './netns.js';

export interface ExtraClient {
  ns: Ns;
  /** the client's address (its source address towards the gateway) */
  addr: string;
  cleanup(): void;
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`);
}

export async function addClientNamespace(tb: Testbed): Promise<ExtraClient> {
  const name = `sg-${tb.id}x-cl`;
  const gwIf = `sgx${tb.slot}g`;
  const clIf = `sgx${tb.slot}c`;
  const gwSide = `10.78.${tb.slot}.1`;
  const addr = `10.78.${tb.slot}.2`;
  const ns = new Ns(name);
  let done = false;
  const cleanup = (): void => {
    if (done) return;
    done = true;
    ns.killAllSync();
    spawnSync('ip', ['netns', 'del', name]);
    fs.rmSync(path.join('/etc/netns', name), { recursive: true, force: true });
  };
  const unregister = registerCleanup(cleanup);
  try {
    // vpnc-script rewrites /etc/resolv.conf: `ip netns exec` bind-mounts this copy over it.
    fs.mkdirSync(path.join('/etc/netns', name), { recursive: true });
    fs.writeFileSync(path.join('/etc/netns', name, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    ip(['netns', 'add', name]);
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
    ip(['link', 'add', gwIf, 'netns', tb.gw.name, 'type', 'veth', 'peer', 'name', clIf, 'netns', name]);
    ip(['-n', tb.gw.name, 'addr', 'add', `${gwSide}/30`, 'dev', gwIf]);
    ip(['-n', name, 'addr', 'add', `${addr}/30`, 'dev', clIf]);
    ip(['-n', tb.gw.name, 'link', 'set', gwIf, 'up']);
    ip(['-n', name, 'link', 'set', clIf, 'up']);
    // The gateway listens on tb.gwAddr (the first veth's address): reach it through our link.
    ip(['-n', name, 'route', 'add', `${tb.gwAddr}/32`, 'via', gwSide]);
    if (!(await ns.ping(tb.gwAddr, { timeoutMs: 5000 }))) throw new Error(`extra client ${addr} cannot reach ${tb.gwAddr}`);
  } catch (e) {
    cleanup();
    unregister();
    throw e;
  }
  return {
    ns,
    addr,
    cleanup(): void {
      cleanup();
      unregister();
    },
  };
}
