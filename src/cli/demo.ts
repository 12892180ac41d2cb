/**
 * `sslgate demo` (`npm run demo`): the fastest way to see sslgate work. In two fresh network
 * namespaces joined by a veth pair it
 *   1. writes a gateway config and adds a demo user (`sslgate user add`, as a person would),
 *   2. starts the gateway (`sslgate serve`; it generates a self-signed certificate),
 *   3. connects the client (`sslgate connect`, pinned to that certificate),
 *   4. pings the gateway through the tunnel,
 *   5. disconnects and removes everything: processes, namespaces, temp files — also on failure
 *      and on Ctrl-C.
 * Addresses come from 198.18.0.0/15 (RFC 2544, benchmarking) and live only inside the
 * namespaces.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { CliError } from './errors.js';
import { packageRoot } from '../os/native-addon.js';

// Found from the package root: this file runs from dist/src/cli/ or from the bundle.
const BIN = join(packageRoot() ?? resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), 'bin', 'sslgate');
const GW_LINK = '198.18.0.1';
const CL_LINK = '198.18.0.2';
const GW_TUN = '198.19.0.1';

interface Proc {
  child: ChildProcess;
  lines: string[];
  waitFor(re: RegExp, ms: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

/** A child whose output lines are echoed with a prefix and can be waited for. */
function start(label: string, args: string[], stdin?: string): Proc {
  const child = spawn('ip', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  for (const s of [child.stdout, child.stderr]) {
    createInterface({ input: s, crlfDelay: Infinity }).on('line', (l) => {
      lines.push(l);
      if (!l.startsWith('{')) process.stdout.write(`  ${label} | ${l}\n`); // the gateway's JSON log stays quiet
      for (const w of [...waiters]) w();
    });
  }
  child.stdin.end(stdin ?? '');
  const exited = new Promise<number | null>((r) => child.on('close', (code) => {
    for (const w of [...waiters]) w();
    r(code);
  }));
  const waitFor = (re: RegExp, ms: number): Promise<RegExpMatchArray> =>
    new Promise((res, rej) => {
      let i = 0;
      const check = (): void => {
        for (; i < lines.length; i++) {
          const m = re.exec(lines[i]!);
          if (m) return done(() => res(m));
        }
        if (child.exitCode !== null) done(() => rej(new CliError(`${label} exited before printing ${re}`)));
      };
      const timer = setTimeout(() => done(() => rej(new CliError(`${label}: no ${re} within ${ms / 1000} s`))), ms);
      const done = (f: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        f();
      };
      waiters.add(check);
      check();
    });
  return { child, lines, waitFor, exited };
}

async function stop(p: Proc | undefined, signal: NodeJS.Signals): Promise<number | null> {
  if (!p || p.child.exitCode !== null) return p?.child.exitCode ?? null;
  p.child.kill(signal);
  const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  const code = await p.exited;
  clearTimeout(t);
  return code;
}

/** Removes namespaces of earlier demo runs whose process is gone (e.g. killed with SIGKILL). */
function sweepStale(): void {
  let list = '';
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^sg-demo-(\d+)-\d+-(gw|cl)$/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // still running
    } catch {
      // gone: its namespaces are ours to remove
    }
    try {
      ip(['netns', 'del', name]);
    } catch {
      // raced with another sweeper
    }
    rmSync(join('/etc/netns', name), { recursive: true, force: true });
  }
}

async function runDemo(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new CliError('the demo creates network namespaces and TUN devices, which needs root: run `sudo npm run demo` (or `sudo bin/sslgate demo`)');
  }
  sweepStale();
  // Named like the test beds (sg-<tag>-<pid>-<n>-gw|cl), so leftovers of a killed run are
  // recognised and removed by the next demo (and by the test suite's sweeper).
  const id = `sg-demo-${process.pid}-0`;
  const gwNs = `${id}-gw`;
  const clNs = `${id}-cl`;
  const dir = mkdtempSync(join(tmpdir(), 'sslgate-demo-'));
  let gw: Proc | undefined;
  let cl: Proc | undefined;
  const t0 = Date.now();
  const say = (s: string): void => {
    process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${s}\n`);
  };
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    await stop(cl, 'SIGINT');
    await stop(gw, 'SIGTERM');
    for (const ns of [clNs, gwNs]) {
      try {
        ip(['netns', 'del', ns]);
      } catch {
        // not created
      }
      rmSync(join('/etc/netns', ns), { recursive: true, force: true });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    say('interrupted; cleaning up');
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    say(`network namespaces ${gwNs} (gateway, ${GW_LINK}) and ${clNs} (client, ${CL_LINK}), joined by a veth pair`);
    for (const ns of [gwNs, clNs]) {
      // A private resolv.conf, so the client's vpnc-style changes could never touch the host's.
      execFileSync('mkdir', ['-p', join('/etc/netns', ns)]);
      writeFileSync(join('/etc/netns', ns, 'resolv.conf'), 'nameserver 127.0.0.1\n');
      ip(['netns', 'add', ns]);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    ip(['link', 'add', 'sgdemo-g', 'netns', gwNs, 'type', 'veth', 'peer', 'name', 'sgdemo-c', 'netns', clNs]);
    ip(['-n', gwNs, 'addr', 'add', `${GW_LINK}/30`, 'dev', 'sgdemo-g']);
    ip(['-n', clNs, 'addr', 'add', `${CL_LINK}/30`, 'dev', 'sgdemo-c']);
    ip(['-n', gwNs, 'link', 'set', 'sgdemo-g', 'up']);
    ip(['-n', clNs, 'link', 'set', 'sgdemo-c', 'up']);

    const config = join(dir, 'gateway.yaml');
    writeFileSync(
      config,
      `# written by sslgate demo
listen: ${GW_LINK}:443
state: ./state
tun: { name: sgdemo%d }
banner: Welcome to the sslgate demo gateway
network:
  address: ${GW_TUN}/24
  dns: [${GW_TUN}]
  routes: [198.19.0.0/24]
groups:
  - name: Demo
    label: Demo users
`,
    );
    say(`gateway config ${config}; adding user "demo" (password "demo") with \`sslgate user add\``);
    execFileSync(process.execPath, [BIN, 'user', 'add', 'demo', '--config', config], { input: 'demo\n', stdio: ['pipe', 'ignore', 'pipe'], timeout: 30_000 });

    say('starting the gateway: sslgate serve');
    gw = start('gateway', ['netns', 'exec', gwNs, process.execPath, BIN, 'serve', '--config', config]);
    const pinLine = await gw.waitFor(/--servercert (pin-sha256:\S+)/, 30_000);
    const pin = pinLine[1]!;
    await gw.waitFor(/"msg":"gateway listening"|listening on/, 10_000);

    say(`connecting the client: sslgate connect https://${GW_LINK} --user demo --servercert ${pin}`);
    const tc = Date.now();
    cl = start(
      'client ',
      ['netns', 'exec', clNs, process.execPath, BIN, 'connect', `https://${GW_LINK}`, '--user', 'demo', '--passwd-on-stdin', '--servercert', pin,
        '--prefs-dir', join(dir, 'client-prefs'), '--interface', 'sgdemo0', '--non-inter'],
      'demo\n',
    );
    const up = await cl.waitFor(/^Tunnel up: ([0-9.]+)/, 30_000);
    say(`tunnel up in ${Date.now() - tc} ms; the client has ${up[1]}`);

    say(`pinging the gateway's tunnel address ${GW_TUN} from the client namespace`);
    const ping = execFileSync('ip', ['netns', 'exec', clNs, 'ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', GW_TUN], { encoding: 'utf8', timeout: 15_000 });
    for (const l of ping.trim().split('\n').slice(-2)) process.stdout.write(`  ping    | ${l}\n`);
    if (!/ 0% packet loss/.test(ping)) throw new CliError('ping through the tunnel lost packets');

    say('disconnecting the client (Ctrl-C = SIGINT: DISCONNECT, undo, exit 0)');
    const code = await stop(cl, 'SIGINT');
    if (code !== 0) throw new CliError(`the client exited with ${code}`);
    say('stopping the gateway and removing the namespaces');
    await cleanup();
    say('done: gateway, client, tunnel and ping all worked. Next: README "Client" and `sslgate connect --help`.');
  } catch (e) {
    say(`demo failed: ${(e as Error).message}`);
    await cleanup();
    throw e instanceof CliError ? e : new CliError((e as Error).message);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('run gateway + client in two throw-away network namespaces, ping through the tunnel, clean up (needs root)')
    .action(async () => {
      await runDemo();
    });
}
