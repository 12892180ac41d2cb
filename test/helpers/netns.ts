/**
 * Network-namespace test bed for interop tests with real peers.
 *
 * Every name, address and temp dir is unique per testbed so test files can
 * run in parallel. Everything created here is registered in a process-wide
 * cleanup registry that runs synchronously on normal exit, on SIGINT/SIGTERM/
 * SIGHUP and on a crash (node emits 'exit' after an unhandled exception), so a
 * failing or interrupted test leaves no namespace, device or process behind.
 * Testbeds left over by a test process that was SIGKILLed are swept by the
 * next createTestbed() (their owner pid is encoded in the namespace name).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { prerequisite } from './prerequisites.js';
import { streamKey } from './seed.js';

// ---------------------------------------------------------------- registry

type CleanupFn = () => void;
const cleanups = new Map<number, CleanupFn>();
let nextCleanupId = 1;
let handlersInstalled = false;

/** Runs every registered cleanup (newest first), synchronously. */
export function runAllCleanups(): void {
  const entries = [...cleanups.entries()].reverse();
  cleanups.clear();
  for (const [, fn] of entries) {
    try {
      fn();
    } catch (err) {
      process.stderr.write(`netns cleanup error: ${String(err)}\n`);
    }
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // 'exit' also fires after an uncaught exception kills the process; the
  // handler must be synchronous, hence spawnSync everywhere below.
  process.on('exit', runAllCleanups);
  const signals: Array<[NodeJS.Signals, number]> = [
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ];
  for (const [sig, num] of signals) {
    process.once(sig, () => {
      runAllCleanups();
      process.exit(128 + num);
    });
  }
}

/** Registers a synchronous cleanup; returns a function that unregisters it. */
export function registerCleanup(fn: CleanupFn): () => void {
  installHandlers();
  const id = nextCleanupId++;
  cleanups.set(id, fn);
  return () => {
    cleanups.delete(id);
  };
}

// ---------------------------------------------------------------- small utils

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Debian's vpnc-script, which openconnect runs by default (test/helpers/openconnect.ts). */
const DEBIAN_VPNC_SCRIPT = '/usr/share/vpnc-scripts/vpnc-script';

/**
 * Reason an interop test cannot run (not root, a required program or file is missing), or false
 * when it can. Use as `test(name, { skip: interopSkipReason([...]) })`: outside CI the tests are
 * skipped with the reason; under CI=true a failing test is registered instead (see
 * prerequisites.ts), so a CI run without its peers cannot pass. `openconnect` implies Debian's
 * vpnc-script, which startOpenconnect runs.
 */
export function interopSkipReason(commands: string[] = [], files: string[] = []): string | false {
  const what = `interop tests needing root${commands.length ? ', ' + commands.join(', ') : ''}${files.length ? ', ' + files.join(', ') : ''}`;
  return prerequisite(what, interopMissing(commands, files));
}

function interopMissing(commands: string[], files: string[]): string | false {
  if (!isRoot()) return 'interop tests need root (network namespaces, TUN devices)';
  const missing = commands.filter((c) => !hasCommand(c));
  if (missing.length > 0) return `missing programs: ${missing.join(', ')} (scripts/test.sh installs them)`;
  const wantFiles = commands.includes('openconnect') ? [DEBIAN_VPNC_SCRIPT, ...files] : files;
  const absent = wantFiles.filter((f) => !fs.existsSync(f));
  if (absent.length > 0) return `missing files: ${absent.join(', ')} (scripts/test.sh installs vpnc-scripts)`;
  return false;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

function ipSync(args: string[], allowFail = false): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (!allowFail && r.status !== 0) {
    throw new Error(`ip ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.error?.message || ''}`);
  }
  return r.stdout ?? '';
}

const TMP_RE = /^sslgate-[a-z0-9]+-(\d+)-[A-Za-z0-9]{6}$/;

/**
 * Creates a temp dir that is removed at cleanup (kept if SSLGATE_KEEP_TMP=1,
 * for debugging). The owner pid in the name lets sweepStale() find leftovers.
 */
export function tempDir(prefix: string): string {
  const tag = prefix.toLowerCase().replace(/[^a-z0-9]/g, '') || 'tmp';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sslgate-${tag}-${process.pid}-`));
  registerCleanup(() => {
    if (process.env.SSLGATE_KEEP_TMP === '1') return;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------- processes

export interface OutputLine {
  /** Date.now() when the line was read. */
  t: number;
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Short name used in error messages (default: the command). */
  label?: string;
  /** Echo output lines to stderr as they arrive (or set SSLGATE_TEST_VERBOSE=1). */
  echo?: boolean;
}

/** A long-running process inside a namespace, in its own process group. */
export class NsProcess {
  readonly lines: OutputLine[] = [];
  readonly label: string;
  readonly pid: number;
  readonly startedAt = Date.now();
  exitStatus: ExitStatus | null = null;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();
  private readonly exited: Promise<ExitStatus>;
  private readonly unregister: () => void;

  constructor(nsName: string, cmd: string, args: string[], opts: SpawnOptions = {}) {
    this.label = opts.label ?? path.basename(cmd);
    // detached => setsid(): the process leads its own group, so one kill(-pid)
    // reaches it and every child it forks (ocserv workers, vpnc-script...).
    this.child = spawn('ip', ['netns', 'exec', nsName, cmd, ...args], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    if (this.child.pid === undefined) throw new Error(`failed to spawn ${cmd} in ${nsName}`);
    this.pid = this.child.pid;
    const pid = this.pid;
    this.unregister = registerCleanup(() => killGroup(pid, 'SIGKILL'));
    const echo = opts.echo === true || process.env.SSLGATE_TEST_VERBOSE === '1';
    for (const stream of ['stdout', 'stderr'] as const) {
      const src = this.child[stream];
      if (!src) continue;
      createInterface({ input: src, crlfDelay: Infinity }).on('line', (text) => {
        this.lines.push({ t: Date.now(), stream, text });
        if (echo) process.stderr.write(`[${this.label}] ${text}\n`);
        for (const w of [...this.waiters]) w();
      });
    }
    // The stdin pipe may be closed by the child (EPIPE); that is not an error here.
    this.child.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.lines.push({ t: Date.now(), stream: 'stderr', text: `spawn error: ${err.message}` });
      });
      // When the leader exits, kill the stragglers of its group (no orphans);
      // that also closes pipes they inherited, so 'close' follows promptly.
      this.child.on('exit', () => killGroup(pid, 'SIGKILL'));
      // 'close' comes after all output was read: waiters then see every line.
      this.child.on('close', (code, signal) => {
        this.exitStatus = { code, signal };
        this.unregister();
        for (const w of [...this.waiters]) w();
        resolve(this.exitStatus);
      });
    });
  }

  get running(): boolean {
    return this.exitStatus === null;
  }

  /** Last n output lines, prefixed with seconds since start, for error messages. */
  tail(n = 40): string {
    return this.lines
      .slice(-n)
      .map((l) => `  +${((l.t - this.startedAt) / 1000).toFixed(3)}s ${l.stream === 'stderr' ? '!' : ' '} ${l.text}`)
      .join('\n');
  }

  /**
   * Resolves with the first line (at index >= fromIndex) matching re.
   * Rejects on timeout or when the process exits first.
   */
  waitForLine(re: RegExp, timeoutMs: number, fromIndex = 0): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      let i = fromIndex;
      const check = (): void => {
        for (; i < this.lines.length; i++) {
          const line = this.lines[i];
          const m = line ? line.text.match(re) : null;
          if (m) {
            done();
            resolve(m);
            return;
          }
        }
        if (this.exitStatus) {
          done();
          reject(
            new Error(
              `${this.label} exited (${JSON.stringify(this.exitStatus)}) before printing ${re}; last output:\n${this.tail()}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timeout (${timeoutMs} ms) waiting for ${this.label} to print ${re}; last output:\n${this.tail()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Resolves with the exit status; rejects if still running after timeoutMs. */
  async waitExit(timeoutMs: number): Promise<ExitStatus> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timeout (${timeoutMs} ms) waiting for ${this.label} to exit; last output:\n${this.tail()}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Signals the leader only (e.g. SIGINT so openconnect can say BYE). */
  signal(sig: NodeJS.Signals): void {
    if (this.running) {
      try {
        process.kill(this.pid, sig);
      } catch {
        // already gone
      }
    }
  }

  /** Signals the whole process group. */
  kill(sig: NodeJS.Signals = 'SIGTERM'): void {
    killGroup(this.pid, sig);
  }

  /** Sends sig to the leader, waits up to graceMs, then SIGKILLs the group. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<ExitStatus> {
    if (!this.running) return this.exitStatus as ExitStatus;
    this.signal(sig);
    try {
      return await this.waitExit(graceMs);
    } catch {
      this.kill('SIGKILL');
      return this.waitExit(5000);
    }
  }

  write(data: string | Buffer): void {
    this.child.stdin?.write(data);
  }

  endStdin(): void {
    this.child.stdin?.end();
  }
}

export interface ExecOptions {
  timeoutMs?: number;
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Throw if the exit code is not 0. */
  check?: boolean;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a short command (optionally inside a namespace) to completion, with a timeout. */
export function execIn(nsName: string | null, cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const argv = nsName ? ['netns', 'exec', nsName, cmd, ...args] : args;
  const child = spawn(nsName ? 'ip' : cmd, argv, {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  const pid = child.pid;
  const unregister = pid !== undefined ? registerCleanup(() => killGroup(pid, 'SIGKILL')) : () => undefined;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  child.stdin.on('error', () => undefined);
  child.stdin.end(opts.input ?? '');
  const what = `${nsName ? `[${nsName}] ` : ''}${cmd} ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) killGroup(pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      unregister();
      reject(new Error(`${what}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      unregister();
      const res: ExecResult = {
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (timedOut) {
        reject(new Error(`${what}: timed out after ${timeoutMs} ms\nstdout: ${res.stdout.slice(-2000)}\nstderr: ${res.stderr.slice(-2000)}`));
      } else if (opts.check && code !== 0) {
        reject(new Error(`${what}: exit ${code ?? signal}\nstdout: ${res.stdout.slice(-2000)}\nstderr: ${res.stderr.slice(-2000)}`));
      } else {
        resolve(res);
      }
    });
  });
}

// ---------------------------------------------------------------- namespaces

export interface PingOptions {
  /** Replies wanted (default 1). */
  count?: number;
  /** Overall deadline (default 5000 ms); ping keeps sending until then. */
  timeoutMs?: number;
  /** Interval between probes in ms (default 200). */
  intervalMs?: number;
  /** Payload size (ping -s). */
  size?: number;
}

export class Ns {
  readonly procs = new Set<NsProcess>();
  constructor(readonly name: string) {}

  spawn(cmd: string, args: string[], opts: SpawnOptions = {}): NsProcess {
    const p = new NsProcess(this.name, cmd, args, { ...opts, label: opts.label ?? `${path.basename(cmd)}@${this.name}` });
    this.procs.add(p);
    return p;
  }

  exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return execIn(this.name, cmd, args, opts);
  }

  /**
   * True if `count` echo replies arrive within timeoutMs (ping -c N -W 1 -w deadline).
   *
   * ping exits at once with 2 when it cannot send at all ("connect: Network is unreachable"),
   * which is what a tunnel looks like for a moment after openconnect printed its address: the
   * vpnc-script's routes come a moment later, later still on a loaded machine (a CI rehearsal
   * failed there in 850 ms with a 10 s timeout). Such a ping is tried again until the timeout;
   * one whose replies did not come (exit 1) has used its whole deadline already.
   */
  async ping(addr: string, opts: PingOptions = {}): Promise<boolean> {
    const count = opts.count ?? 1;
    const timeoutMs = opts.timeoutMs ?? 5000;
    const end = Date.now() + timeoutMs;
    for (;;) {
      const deadline = Math.max(1, Math.ceil((end - Date.now()) / 1000));
      const args = ['-n', '-q', '-c', String(count), '-W', '1', '-w', String(deadline), '-i', String((opts.intervalMs ?? 200) / 1000)];
      if (opts.size !== undefined) args.push('-s', String(opts.size));
      const r = await this.exec('ping', [...args, addr], { timeoutMs: deadline * 1000 + 5000 });
      if (r.code !== 2 || Date.now() + 200 > end) return r.code === 0;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Kills every process in the namespace (ours and any that escaped our groups). Sync. */
  killAllSync(): void {
    for (const p of this.procs) p.kill('SIGKILL');
    const pids = ipSync(['netns', 'pids', this.name], true)
      .split(/\s+/)
      .filter((s) => /^\d+$/.test(s))
      .map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

// ---------------------------------------------------------------- testbed

export interface TestbedOptions {
  /** Short tag in names, [a-z0-9], e.g. the test file's name (default 't'). */
  tag?: string;
}

export interface Testbed {
  /** Unique id of this testbed (also in namespace names). */
  id: string;
  gw: Ns;
  cl: Ns;
  /** Gateway side of the veth link (/30). */
  gwAddr: string;
  /** Client side of the veth link (/30). */
  clAddr: string;
  /** veth interface names inside gw and cl. */
  gwIf: string;
  clIf: string;
  /** 0..255, unique among live testbeds on this machine. */
  slot: number;
  /**
   * A /24 for tunnel address pools, unique among live testbeds:
   * 10.<100+k>.<slot>.0/24, k in 0..99.
   */
  poolNet(k?: number): string;
  /** Idempotent; also runs at process exit if not called. */
  cleanup(): Promise<void>;
}

const SLOT_DIR = path.join(os.tmpdir(), 'sslgate-testbed-slots');
const NS_RE = /^sg-[a-z0-9]+-(\d+)-[a-z0-9]+-(gw|cl)$/;
let testbedCounter = 0;

/** Reserves a slot number no live testbed uses (files created with O_EXCL). */
function allocSlot(): number {
  fs.mkdirSync(SLOT_DIR, { recursive: true });
  const start = Math.floor(Math.random() * 256);
  for (let i = 0; i < 256; i++) {
    const slot = (start + i) % 256;
    const file = path.join(SLOT_DIR, String(slot));
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
        return slot;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = Number(fs.readFileSync(file, 'utf8').trim());
        if (owner > 0 && pidAlive(owner)) break;
        fs.rmSync(file, { force: true }); // stale: owner died without cleanup
      }
    }
  }
  throw new Error('no free testbed slot (256 testbeds alive?)');
}

function removeNamespaceSync(name: string): void {
  new Ns(name).killAllSync();
  ipSync(['netns', 'del', name], true);
  fs.rmSync(path.join('/etc/netns', name), { recursive: true, force: true });
}

/**
 * Removes what test processes that died without cleaning up (SIGKILL) left:
 * their namespaces (with every process inside), temp dirs, and vpnc-script
 * state files of openconnect processes that no longer exist.
 */
export function sweepStale(): void {
  for (const line of ipSync(['netns', 'list'], true).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = NS_RE.exec(name);
    if (m && !pidAlive(Number(m[1]))) removeNamespaceSync(name);
  }
  if (process.env.SSLGATE_KEEP_TMP !== '1') {
    for (const name of fs.readdirSync(os.tmpdir())) {
      const m = TMP_RE.exec(name);
      if (m && !pidAlive(Number(m[1]))) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
  let vpnc: string[] = [];
  try {
    vpnc = fs.readdirSync('/var/run/vpnc');
  } catch {
    // no vpnc-script state at all
  }
  for (const name of vpnc) {
    const m = /^(?:defaultroute|defaultroute_ipv6|resolv\.conf-backup)\.(\d+)$/.exec(name);
    if (m && !pidAlive(Number(m[1]))) fs.rmSync(path.join('/var/run/vpnc', name), { force: true });
  }
}

export async function createTestbed(opts: TestbedOptions = {}): Promise<Testbed> {
  if (!isRoot()) throw new Error('createTestbed needs root (ip netns, veth)');
  sweepStale();
  const tag = (opts.tag ?? 't').toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 10) || 't';
  const rand = Math.random().toString(36).slice(2, 6);
  const id = `${tag}-${process.pid}-${(testbedCounter++).toString(36)}${rand}`;
  const gwName = `sg-${id}-gw`;
  const clName = `sg-${id}-cl`;
  const slot = allocSlot();
  const slotFile = path.join(SLOT_DIR, String(slot));
  // Interface names are limited to 15 chars; they only need to be unique
  // inside their namespace, but carrying the slot helps when debugging.
  const gwIf = `sgv${slot}g`;
  const clIf = `sgv${slot}c`;
  const gwAddr = `10.77.${slot}.1`;
  const clAddr = `10.77.${slot}.2`;
  let cleaned = false;

  const cleanupSync = (): void => {
    if (cleaned) return;
    cleaned = true;
    removeNamespaceSync(gwName);
    removeNamespaceSync(clName);
    fs.rmSync(slotFile, { force: true });
  };
  const unregister = registerCleanup(cleanupSync);
  const gw = new Ns(gwName);
  const cl = new Ns(clName);

  try {
    for (const ns of [gwName, clName]) {
      // The per-namespace resolv.conf must exist before any process runs:
      // `ip netns exec` bind-mounts it over /etc/resolv.conf, so vpnc-script
      // rewrites this copy and never the host's.
      fs.mkdirSync(path.join('/etc/netns', ns), { recursive: true });
      fs.writeFileSync(path.join('/etc/netns', ns, 'resolv.conf'), 'nameserver 127.0.0.1\n');
      ipSync(['netns', 'add', ns]);
      ipSync(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    // Create both ends directly inside their namespaces: nothing ever
    // appears in the host namespace, so nothing can leak there.
    ipSync(['link', 'add', gwIf, 'netns', gwName, 'type', 'veth', 'peer', 'name', clIf, 'netns', clName]);
    ipSync(['-n', gwName, 'addr', 'add', `${gwAddr}/30`, 'dev', gwIf]);
    ipSync(['-n', clName, 'addr', 'add', `${clAddr}/30`, 'dev', clIf]);
    ipSync(['-n', gwName, 'link', 'set', gwIf, 'up']);
    ipSync(['-n', clName, 'link', 'set', clIf, 'up']);
    if (!(await cl.ping(gwAddr, { timeoutMs: 5000 }))) {
      throw new Error(`testbed ${id}: veth link ${clAddr} -> ${gwAddr} does not answer ping`);
    }
  } catch (err) {
    cleanupSync();
    unregister();
    throw err;
  }

  return {
    id,
    gw,
    cl,
    gwAddr,
    clAddr,
    gwIf,
    clIf,
    slot,
    poolNet(k = 0): string {
      if (!Number.isInteger(k) || k < 0 || k > 99) throw new Error(`poolNet: k must be 0..99, got ${k}`);
      return `10.${100 + k}.${slot}.0/24`;
    },
    async cleanup(): Promise<void> {
      if (cleaned) return;
      // Give our processes a chance to exit cleanly before the hard kill.
      const running = [...gw.procs, ...cl.procs].filter((p) => p.running);
      await Promise.all(running.map((p) => p.stop('SIGTERM', 3000).catch(() => undefined)));
      cleanupSync();
      unregister();
    },
  };
}

// ---------------------------------------------------------------- traffic

export interface TransferResult {
  sentSha256: string;
  receivedSha256: string;
  /** Bytes received by the sink. */
  bytes: number;
  sentBytes: number;
  /** From the source's connect to the sink's close, as seen by the source. */
  ms: number;
}

// Sink: accepts one connection, hashes everything, prints JSON at EOF.
const SINK_JS = `
const net = require('node:net'), crypto = require('node:crypto');
const h = crypto.createHash('sha256'); let n = 0;
const srv = net.createServer((s) => {
  srv.close();
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => { console.log('RESULT ' + JSON.stringify({ bytes: n, sha256: h.digest('hex') })); s.end(); });
  s.on('error', (e) => { console.error('sink socket error: ' + e.message); process.exit(2); });
});
srv.listen(Number(process.env.SINK_PORT), process.env.SINK_HOST, () => console.log('LISTENING ' + srv.address().port));
`;

// Source: sends BYTES bytes of the seeded stream RNG_KEY/RNG_IV (test/helpers/seed.ts), hashing
// them, then waits for the peer to close.
const SOURCE_JS = `
const net = require('node:net'), crypto = require('node:crypto');
const total = Number(process.env.BYTES); const h = crypto.createHash('sha256'); let sent = 0; let t0 = 0;
const rng = crypto.createCipheriv('aes-256-ctr', Buffer.from(process.env.RNG_KEY, 'hex'), Buffer.from(process.env.RNG_IV, 'hex'));
const s = net.connect({ host: process.env.HOST, port: Number(process.env.PORT) }, () => {
  t0 = Date.now();
  const pump = () => {
    while (sent < total) {
      const b = rng.update(Buffer.alloc(Math.min(65536, total - sent)));
      h.update(b); sent += b.length;
      if (!s.write(b)) { s.once('drain', pump); return; }
    }
    s.end();
  };
  pump();
});
s.resume();
s.on('error', (e) => { console.error('source socket error: ' + e.message); process.exit(2); });
s.on('close', () => console.log('RESULT ' + JSON.stringify({ bytes: sent, sha256: h.digest('hex'), ms: Date.now() - t0 })));
`;

let transferCounter = 0;

/** Key and IV (hex) of a seeded byte stream, for the source processes' RNG_KEY and RNG_IV. */
export function seededStreamEnv(label: string): { RNG_KEY: string; RNG_IV: string } {
  const { key, iv } = streamKey(label);
  return { RNG_KEY: key.toString('hex'), RNG_IV: iv.toString('hex') };
}

/**
 * Sends `bytes` seeded random bytes over TCP from namespace `from` to `toAddr` (an
 * address inside namespace `to`) and returns both SHA-256 digests.
 */
export async function tcpTransfer(
  from: Ns,
  to: Ns,
  toAddr: string,
  bytes: number,
  opts: { port?: number; timeoutMs?: number } = {},
): Promise<TransferResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000 + Math.ceil(bytes / 100_000);
  const env = { ...process.env, SINK_HOST: toAddr, SINK_PORT: String(opts.port ?? 0) };
  const sink = to.spawn(process.execPath, ['-e', SINK_JS], { env, label: `tcp-sink@${to.name}` });
  let source: NsProcess | undefined;
  try {
    const m = await sink.waitForLine(/^LISTENING (\d+)$/, 10_000);
    const port = m[1] ?? '';
    source = from.spawn(process.execPath, ['-e', SOURCE_JS], {
      env: { ...process.env, HOST: toAddr, PORT: port, BYTES: String(bytes), ...seededStreamEnv(`tcp-transfer ${transferCounter++}`) },
      label: `tcp-source@${from.name}`,
    });
    const [sent, recv] = await Promise.all([
      source.waitForLine(/^RESULT (.*)$/, timeoutMs),
      sink.waitForLine(/^RESULT (.*)$/, timeoutMs),
    ]);
    const s = JSON.parse(sent[1] ?? '{}') as { bytes: number; sha256: string; ms: number };
    const r = JSON.parse(recv[1] ?? '{}') as { bytes: number; sha256: string };
    return { sentSha256: s.sha256, receivedSha256: r.sha256, bytes: r.bytes, sentBytes: s.bytes, ms: s.ms };
  } finally {
    await Promise.all([sink.stop('SIGKILL', 2000), source?.stop('SIGKILL', 2000)]);
  }
}

export { sleep };

// `node dist/test/helpers/netns.js sweep` (scripts/test.sh runs it at the end).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === 'sweep') {
  if (isRoot()) sweepStale();
}
