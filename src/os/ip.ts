/**
 * Thin async wrappers over ip(8) for configuring tunnel interfaces and routes.
 *
 * execFile, never a shell: device names and addresses can come from a peer (the gateway's
 * X-CSTP-* headers on the client side), so they are passed as separate argv entries. Values
 * that would look like options to ip(8) are refused before it runs. Network namespaces are not
 * handled here: run the whole process inside one (`ip netns exec`).
 */
import { execFile } from 'node:child_process';

export class IpError extends Error {
  /** The command as run, e.g. 'ip route add 198.18.0.0/24 dev sgw0'. */
  readonly command: string;
  /** What ip(8) printed on stderr, trimmed; '' if it did not get that far. */
  readonly stderr: string;
  /** ip's exit status, or undefined if it could not be started / was killed. */
  readonly exitCode: number | undefined;
  constructor(command: string, stderr: string, exitCode: number | undefined, cause?: unknown) {
    super(`${command}: ${stderr || (cause instanceof Error ? cause.message : 'failed')}`, { cause });
    this.name = 'IpError';
    this.command = command;
    this.stderr = stderr;
    this.exitCode = exitCode;
  }
}

const IP_BIN = 'ip';
const TIMEOUT_MS = 10_000;

/** Runs `ip ...args` and resolves with its stdout. */
export function ip(args: readonly string[]): Promise<string> {
  const command = [IP_BIN, ...args].join(' ');
  return new Promise((resolve, reject) => {
    // An empty or NUL-containing argument is always a caller bug (execFile would choke on NUL).
    const bad = args.find((a) => a === '' || a.includes('\0'));
    if (bad !== undefined) return reject(new TypeError(`ip: bad argument ${JSON.stringify(bad)}`));
    execFile(IP_BIN, args, { timeout: TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const code = typeof err.code === 'number' ? err.code : undefined;
      reject(new IpError(command, String(stderr).trim(), code, err));
    });
  });
}

/** Rejects user-supplied values that ip(8) would read as an option or keyword list. */
function value(what: string, v: string | number): string {
  const s = String(v);
  if (s.startsWith('-') || /\s/.test(s)) throw new TypeError(`ip: invalid ${what} ${JSON.stringify(s)}`);
  return s;
}

function family(addr: string): '-4' | '-6' {
  return addr.includes(':') ? '-6' : '-4';
}

/** Brings the link up, optionally setting its MTU in the same call. */
export async function linkSetUp(dev: string, mtu?: number): Promise<void> {
  const args = ['link', 'set', 'dev', value('device', dev)];
  if (mtu !== undefined) args.push('mtu', value('mtu', mtu));
  await ip([...args, 'up']);
}

export async function linkSetMtu(dev: string, mtu: number): Promise<void> {
  await ip(['link', 'set', 'dev', value('device', dev), 'mtu', value('mtu', mtu)]);
}

export async function linkDel(dev: string): Promise<void> {
  await ip(['link', 'del', 'dev', value('device', dev)]);
}

/**
 * Adds an address. Without peer, cidr is 'addr/len' ('198.18.0.1/24'). With peer, cidr is the
 * local address and peer the far end of a point-to-point link ('198.18.0.2' or '.../32').
 */
export async function addrAdd(dev: string, cidr: string, peer?: string): Promise<void> {
  const args = ['addr', 'add', value('address', cidr)];
  if (peer !== undefined) args.push('peer', value('peer', peer));
  await ip([...args, 'dev', value('device', dev)]);
}

export interface RouteOptions {
  via?: string;
  src?: string;
  metric?: number;
  table?: string | number;
  mtu?: number;
  /** Use `ip route replace`: succeed whether or not the route exists. */
  replace?: boolean;
  /** Needed only for 'default', whose family cannot be read from the prefix. */
  family?: 4 | 6;
}

function routeArgs(verb: string, cidr: string, dev: string | undefined, o: RouteOptions): string[] {
  const fam = o.family ? (`-${o.family}` as const) : family(o.via ?? cidr);
  const args = [fam, 'route', verb, value('prefix', cidr)];
  if (o.via !== undefined) args.push('via', value('gateway', o.via));
  if (dev !== undefined) args.push('dev', value('device', dev));
  if (o.src !== undefined) args.push('src', value('source', o.src));
  if (o.metric !== undefined) args.push('metric', value('metric', o.metric));
  if (o.table !== undefined) args.push('table', value('table', o.table));
  if (o.mtu !== undefined) args.push('mtu', value('mtu', o.mtu));
  return args;
}

/** Adds (or with replace, sets) a route to cidr ('198.18.4.0/24', 'default') through dev. */
export async function routeAdd(cidr: string, dev: string, opts: RouteOptions = {}): Promise<void> {
  await ip(routeArgs(opts.replace ? 'replace' : 'add', cidr, dev, opts));
}

/** Deletes a route; dev and the options narrow which one when several match. */
export async function routeDel(cidr: string, dev?: string, opts: Omit<RouteOptions, 'replace' | 'mtu'> = {}): Promise<void> {
  await ip(routeArgs('del', cidr, dev, opts));
}

export interface RouteGetResult {
  dev: string;
  /** Preferred source address, when the kernel picked one. */
  src?: string;
  /** Next-hop gateway; absent for on-link destinations. */
  via?: string;
  /** 'local', 'unicast', ... as reported by the kernel ('unicast' when it says nothing). */
  type: string;
}

/** Asks the kernel how it would route to addr (`ip -j route get`). Rejects if unreachable. */
export async function routeGet(addr: string): Promise<RouteGetResult> {
  const out = await ip(['-j', family(addr), 'route', 'get', value('address', addr)]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(out);
  } catch (cause) {
    throw new IpError(`ip -j route get ${addr}`, `unparsable output: ${out.slice(0, 200)}`, 0, cause);
  }
  const r = (Array.isArray(parsed) ? parsed[0] : undefined) as Record<string, unknown> | undefined;
  if (!r || typeof r.dev !== 'string') {
    throw new IpError(`ip -j route get ${addr}`, `no route in output: ${out.slice(0, 200)}`, 0);
  }
  const res: RouteGetResult = { dev: r.dev, type: typeof r.type === 'string' ? r.type : 'unicast' };
  if (typeof r.prefsrc === 'string') res.src = r.prefsrc;
  if (typeof r.gateway === 'string') res.via = r.gateway;
  return res;
}

/**
 * Several ip(8) commands in one process (`ip -batch -`), in order, stopping at the first that
 * fails. Each spawn of ip costs milliseconds, which adds up on a VPN client's connect path.
 * Each command is the argument list without the leading `ip` and without global options
 * (families are inferred from the addresses). Every argument must be a plain token: no
 * whitespace, quotes or '#', and only the first may not start with '-'.
 */
export function ipBatch(commands: ReadonlyArray<readonly string[]>): Promise<void> {
  const text = commands
    .map((args) => {
      for (const a of args) {
        if (a === '' || /[\s"'#\\]/.test(a) || a.startsWith('-')) throw new TypeError(`ip: invalid batch argument ${JSON.stringify(a)}`);
      }
      return args.join(' ');
    })
    .join('\n');
  const command = `ip -batch - <<< ${JSON.stringify(text)}`;
  return new Promise((resolve, reject) => {
    const child = execFile(IP_BIN, ['-batch', '-'], { timeout: TIMEOUT_MS, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const code = typeof err.code === 'number' ? err.code : undefined;
      reject(new IpError(command, String(stderr).trim(), code, err));
    });
    child.stdin?.end(text + '\n');
  });
}
