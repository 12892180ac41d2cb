/**
 * The drill's namespaces: a testbed (gateway + legitimate client, test/helpers/netns.ts) and one
 * attacker namespace joined to the gateway namespace by its own veth, with one address per
 * attacker on it, so each attacker is a distinct source address (a ban of the brute forcer does
 * not stop the others) and none is the legitimate user's.
 *
 * The attacker namespace is named like the testbed's own (`sg-<id>a-cl`): the stale-testbed
 * sweep of netns.ts removes it when a drill was SIGKILLed, and the cleanup registry removes it
 * on exit, Ctrl-C or a crash.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTestbed, Ns, registerCleanup, type Testbed } from '../../test/helpers/netns.js';

export interface AttackLab {
  tb: Testbed;
  attackers: Ns;
  /** attacker name -> its source address in the attacker namespace */
  addr: Record<string, string>;
  cleanup(): Promise<void>;
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`);
}

export async function createAttackLab(names: readonly string[]): Promise<AttackLab> {
  const tb = await createTestbed({ tag: 'atk' });
  const name = `sg-${tb.id}a-cl`;
  const gwIf = `sga${tb.slot}g`;
  const atIf = `sga${tb.slot}a`;
  // Only the gateway namespace sees this /24 (namespaces do not share routes): no clash with
  // other testbeds.
  const gwSide = `10.78.${tb.slot}.1`;
  const attackers = new Ns(name);
  const addr: Record<string, string> = {};
  names.forEach((n, i) => (addr[n] = `10.78.${tb.slot}.${11 + i}`));
  let done = false;
  const removeSync = (): void => {
    if (done) return;
    done = true;
    attackers.killAllSync();
    spawnSync('ip', ['netns', 'del', name]);
    fs.rmSync(path.join('/etc/netns', name), { recursive: true, force: true });
  };
  const unregister = registerCleanup(removeSync);
  try {
    fs.mkdirSync(path.join('/etc/netns', name), { recursive: true });
    fs.writeFileSync(path.join('/etc/netns', name, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    ip(['netns', 'add', name]);
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
    ip(['link', 'add', gwIf, 'netns', tb.gw.name, 'type', 'veth', 'peer', 'name', atIf, 'netns', name]);
    ip(['-n', tb.gw.name, 'addr', 'add', `${gwSide}/24`, 'dev', gwIf]);
    for (const a of Object.values(addr)) ip(['-n', name, 'addr', 'add', `${a}/24`, 'dev', atIf]);
    ip(['-n', tb.gw.name, 'link', 'set', gwIf, 'up']);
    ip(['-n', name, 'link', 'set', atIf, 'up']);
    // The gateway listens on tb.gwAddr (the first veth's address): reach it over this link.
    ip(['-n', name, 'route', 'add', `${tb.gwAddr}/32`, 'via', gwSide]);
    if (!(await attackers.ping(tb.gwAddr, { timeoutMs: 5000 }))) throw new Error(`attacker namespace cannot reach ${tb.gwAddr}`);
  } catch (e) {
    removeSync();
    unregister();
    await tb.cleanup();
    throw e;
  }
  return {
    tb,
    attackers,
    addr,
    async cleanup(): Promise<void> {
      for (const p of attackers.procs) if (p.running) await p.stop('SIGKILL', 2000).catch(() => undefined);
      removeSync();
      unregister();
      await tb.cleanup();
    },
  };
}
