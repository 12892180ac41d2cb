/**
 * Runs Debian's redis-server as a test-owned foreground process, never the system service: its
 * config on the command line, its data (AOF) in a temp dir, its own port on 127.0.0.1 (or `host`
 * inside a namespace). Stopped by the test, and by the cleanup registry (netns.ts) if the test
 * process dies or a test fails.
 *
 * The append-only file is on (fsync always): restart() stops Redis and starts it again on the same
 * port and data, as an operator's restart would, and the data must come back with it.
 */
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { execIn, hasCommand, registerCleanup, sleep, tempDir, type Ns, type NsProcess } from './netns.js';
import { prerequisite } from './prerequisites.js';

export interface RedisServer {
  host: string;
  port: number;
  url: string;
  dir: string;
  /** SIGKILL or SIGTERM Redis and wait until it is gone */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** start again on the same port and data (after stop()) */
  start(): Promise<void>;
  /** stop + start */
  restart(): Promise<void>;
  /** last lines Redis printed */
  tail(): string;
  /** a redis-cli command against this server */
  cli(args: string[]): Promise<string>;
}

/** Reason redis tests cannot run here, or false (under CI=true: a failure, prerequisites.ts). */
export function redisSkipReason(): string | false {
  const missing = ['redis-server', 'redis-cli'].filter((c) => !hasCommand(c));
  return prerequisite('Redis tests (redis-server)', missing.length ? `missing programs: ${missing.join(', ')} (Debian package redis-server; scripts/test.sh installs it)` : false);
}

let instances = 0;

/** A port derived from the pid and instance (unique per test process), shifted per attempt. */
function portFor(attempt: number): number {
  return 21000 + ((process.pid % 1500) * 13 + instances * 3 + attempt * 7919) % 38000;
}

interface Running {
  stop(signal: NodeJS.Signals): Promise<void>;
  lines(): string[];
  running(): boolean;
}

function hostProcess(args: string[]): Running {
  const child = spawn('redis-server', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error('failed to spawn redis-server');
  const lines: string[] = [];
  let alive = true;
  const unregister = registerCleanup(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  });
  for (const s of [child.stdout, child.stderr]) s?.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  const exited = new Promise<void>((resolve) =>
    child.on('close', () => {
      alive = false;
      unregister();
      resolve();
    }),
  );
  return {
    async stop(signal) {
      if (!alive) return;
      try {
        process.kill(-pid, signal);
      } catch {
        // gone
      }
      const t = setTimeout(() => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone
        }
      }, 5000);
      await exited;
      clearTimeout(t);
    },
    lines: () => lines,
    running: () => alive,
  };
}

function nsProcess(ns: Ns, args: string[]): Running {
  const p: NsProcess = ns.spawn('redis-server', args, { label: `redis@${ns.name}` });
  return {
    async stop(signal) {
      await p.stop(signal, 5000);
    },
    lines: () => p.lines.map((l) => l.text),
    running: () => p.running,
  };
}

/** True once something accepts TCP on host:port (run inside `ns` when given). */
async function answers(ns: Ns | undefined, host: string, port: number): Promise<boolean> {
  if (ns) {
    const r = await execIn(ns.name, 'redis-cli', ['-h', host, '-p', String(port), 'ping'], { timeoutMs: 3000 }).catch(() => null);
    return r?.stdout.trim() === 'PONG';
  }
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => {
      s.write('PING\r\n');
    });
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.on('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.on('error', () => resolve(false));
  });
}

export interface RedisOptions {
  /** run inside this namespace (default: the host) */
  ns?: Ns;
  /** address to listen on (default 127.0.0.1) */
  host?: string;
}

/** Starts redis-server; resolves once it answers PING. The caller stops it (t.after). */
export async function startRedis(opts: RedisOptions = {}): Promise<RedisServer> {
  const host = opts.host ?? '127.0.0.1';
  const dir = tempDir('redis');
  const ns = opts.ns;
  let port = 0;
  let proc: Running | null = null;
  instances++;

  const args = (p: number): string[] => [
    '--port', String(p), '--bind', host, '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
    '--protected-mode', 'no', '--daemonize', 'no', '--logfile', '', '--loglevel', 'notice',
  ];

  const launch = async (p: number): Promise<boolean> => {
    proc = ns ? nsProcess(ns, args(p)) : hostProcess(args(p));
    for (let i = 0; i < 100; i++) {
      if (!proc.running()) return false;
      if (await answers(ns, host, p)) return true;
      await sleep(100);
    }
    await proc.stop('SIGKILL');
    throw new Error(`redis-server on ${host}:${p} did not answer PING within 10 s:\n${proc.lines().slice(-20).join('\n')}`);
  };

  for (let attempt = 0; attempt < 5 && port === 0; attempt++) {
    const p = portFor(attempt);
    if (await launch(p)) port = p;
  }
  if (port === 0) throw new Error(`redis-server did not start (ports busy?):\n${(proc as Running | null)?.lines().slice(-20).join('\n') ?? ''}`);

  const server: RedisServer = {
    host,
    port,
    url: `redis://${host}:${port}`,
    dir,
    async stop(signal = 'SIGTERM') {
      await proc?.stop(signal);
    },
    async start() {
      if (proc?.running()) return;
      if (!(await launch(port))) throw new Error(`redis-server did not start again on ${host}:${port}:\n${proc?.lines().slice(-20).join('\n') ?? ''}`);
    },
    async restart() {
      await server.stop('SIGTERM');
      await server.start();
    },
    tail: () => proc?.lines().slice(-30).join('\n') ?? '',
    async cli(a) {
      const r = await execIn(ns?.name ?? null, 'redis-cli', ['-h', host, '-p', String(port), ...a], { timeoutMs: 10_000, check: true });
      return r.stdout.trim();
    },
  };
  return server;
}
