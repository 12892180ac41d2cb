/**
 * Fakes for the gateway glue unit tests (AuthHandler, serveConnection, openTunnel): a real config,
 * SessionStore, BanGuard, pools and events, with a fake password checker, a fake router and a
 * recorder of ended sessions. No TUN, no privileged process, no child processes.
 */
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { HttpRequestParser, HttpResponseParser, type HttpRequest, type HttpResponse } from '../../src/protocol/http.js';
import { generateSelfSigned } from '../../src/gateway/tls-cert.js';
import { AuthHandler, type AuthDeps } from '../../src/gateway/auth-handler.js';
import { AuthEngine } from '../../src/gateway/auth/engine.js';
import type { MethodResult, PasswordMethod } from '../../src/gateway/auth/types.js';
import { BanGuard } from '../../src/gateway/ban-guard.js';
import { parseConfigText, type GatewayConfig } from '../../src/gateway/config.js';
import { IpPool } from '../../src/gateway/ip-pool.js';
import { GatewayEvents, type GatewayEvent } from '../../src/gateway/ops/events.js';
import type { Router } from '../../src/gateway/router.js';
import type { SessionTunnel } from '../../src/gateway/session-tunnel.js';
import { SessionStore, type Session } from '../../src/gateway/sessions.js';
import type { TunnelDeps } from '../../src/gateway/tunnel-setup.js';

/** Two groups as in the interop tests (test/helpers/sslgate.ts twoGroupYaml), small pools. */
export const GLUE_YAML = `network:
  address: 10.60.0.1/29
  routes: [10.60.0.0/24]
banner: Hello from the unit test
groups:
  - name: Employees
  - name: Contractors
    label: External Contractors
    network: { address: 10.61.0.1/24 }
`;

/** Users: alice (every group), carol (Contractors only); the password is NAME-pw. */
export class FakePasswords implements PasswordChecker {
  readonly calls: Array<[string, string]> = [];
  readonly users = new Map<string, string[] | undefined>([['alice', undefined], ['carol', ['Contractors']]]);
  verify(user: string, password: string): Promise<{ groups?: string[] | undefined } | null> {
    this.calls.push([user, password]);
    if (!this.users.has(user) || password !== `${user}-pw`) return Promise.resolve(null);
    return Promise.resolve({ groups: this.users.get(user) });
  }
}

/** What the fakes check a password with (the UserStore's verify, reduced to the groups). */
export interface PasswordChecker {
  /** The user's allowed groups (undefined = every group) when the password is right, else null. */
  verify(user: string, password: string): Promise<{ groups?: string[] | undefined } | null>;
}

/** A `local` method over a PasswordChecker (the real one, LocalMethod, adds expiry on top). */
function checkerMethod(checker: PasswordChecker): PasswordMethod {
  return {
    name: 'local',
    async authenticate(user: string, password: string): Promise<MethodResult> {
      const rec = await checker.verify(user, password);
      if (!rec) return { kind: 'reject' };
      return rec.groups ? { kind: 'accept', groups: rec.groups } : { kind: 'accept' };
    },
  };
}

/** The real auth engine with only the `local` method, over a fake password checker. */
export function engineOver(config: () => GatewayConfig, checker: PasswordChecker): AuthEngine {
  const local = checkerMethod(checker);
  return new AuthEngine({
    config,
    method: (name) => (name === 'local' ? local : undefined),
    secondFactor: () => undefined,
    certificate: () => ({ ok: false, error: 'no certificates in this test' }),
    log: silentLog,
  });
}

export class FakeRouter {
  readonly attached = new Map<number, SessionTunnel>();
  readonly detached: number[] = [];
  readonly packets: Array<[number, Buffer]> = [];
  attach(addr: number, t: SessionTunnel): void {
    this.attached.set(addr, t);
  }
  detach(addr: number, t: SessionTunnel): void {
    if (this.attached.get(addr) === t) this.attached.delete(addr);
    this.detached.push(addr);
  }
  fromClient(addr: number, buf: Buffer, start: number, end: number): void {
    this.packets.push([addr, Buffer.from(buf.subarray(start, end))]);
  }
  /** CSTP packets (the real router batches them for write-side GRO): the buffer is reused after the call */
  fromClientRecord(addr: number, buf: Buffer, start: number, end: number): void {
    this.fromClient(addr, buf, start, end);
  }
}

export interface Glue {
  config: GatewayConfig;
  sessions: SessionStore;
  events: GatewayEvents;
  seen: GatewayEvent[];
  guard: BanGuard;
  pools: Map<string, IpPool>;
  passwords: FakePasswords;
  ended: Array<[Session, string]>;
  router: FakeRouter;
  auth: AuthHandler;
  authDeps: AuthDeps;
  tunnelDeps: TunnelDeps;
  endSession(s: Session, why: string): void;
}

export const silentLog = pino({ level: 'silent' });

export function glue(yaml = GLUE_YAML): Glue {
  const config = parseConfigText(yaml, 'unit', '/tmp', '/tmp/gw.yaml');
  const sessions = new SessionStore();
  const events = new GatewayEvents();
  const seen: GatewayEvent[] = [];
  events.subscribe((e) => seen.push(e));
  const guard = new BanGuard(config.ban, (e) => events.emit(e));
  events.subscribe(guard.observe);
  const pools = new Map<string, IpPool>(config.groups.map((g) => [g.name, new IpPool(g.network.address)]));
  const passwords = new FakePasswords();
  const ended: Array<[Session, string]> = [];
  const router = new FakeRouter();
  const endSession = (s: Session, why: string): void => {
    ended.push([s, why]);
    s.channel?.destroy({ kind: 'local', text: why });
    sessions.remove(s);
  };
  const authDeps: AuthDeps = {
    config: () => config,
    auth: engineOver(() => config, passwords),
    sessions,
    guard,
    events,
    pools,
    serverCertSha1: 'AB'.repeat(20),
    profile: () => null,
    log: silentLog,
    endSession,
  };
  const tunnelDeps: TunnelDeps = {
    config: () => config,
    sessions,
    router: router as unknown as Router,
    dtls: null,
    log: silentLog,
    endSession,
    events,
  };
  return { config, sessions, events, seen, guard, pools, passwords, ended, router, auth: new AuthHandler(authDeps), authDeps, tunnelDeps, endSession };
}

// ---------------------------------------------------------------- client bodies (openconnect 9.01)

const HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<config-auth client="vpn" type="';
const INFO = '<version who="vpn">v9.01-3</version><device-id>linux-64</device-id>';
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function initBody(group?: string): string {
  return `${HEAD}init" aggregate-auth-version="2">${INFO}${group !== undefined ? `<group-select>${esc(group)}</group-select>` : ''}</config-auth>\n`;
}

export function replyBody(user: string, password: string, group?: string): string {
  return `${HEAD}auth-reply" aggregate-auth-version="2">${INFO}<auth><username>${esc(user)}</username><password>${esc(password)}</password></auth>` +
    `${group !== undefined ? `<group-select>${esc(group)}</group-select>` : ''}</config-auth>\n`;
}

export function logoutBody(token: string): string {
  return `${HEAD}logout"><session-token>${esc(token)}</session-token></config-auth>\n`;
}

/** The group the form marks selected, its <error> (if any) and the offered groups. */
export function formFacts(body: string): { selected: string | null; error: string | null; options: string[] } {
  const selected = /<option value="([^"]*)" selected="true">/.exec(body)?.[1] ?? null;
  const error = /<error[^>]*>([^<]*)<\/error>/.exec(body)?.[1] ?? null;
  const options = [...body.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]!);
  return { selected, error, options };
}

// ---------------------------------------------------------------- a real TLS pair on 127.0.0.1

let identity: Promise<{ certPem: string; keyPem: string }> | null = null;

/**
 * A TLS server on 127.0.0.1 (port 0) that hands each accepted socket to `onSocket`; `connect()`
 * opens a client connection (TLS 1.3 unless `maxVersion` says otherwise).
 */
export async function tlsLoopback(onSocket: (sock: TLSSocket) => void): Promise<{
  connect(opts?: { maxVersion?: 'TLSv1.2' | 'TLSv1.3'; ciphers?: string }): Promise<ClientConn>;
  close(): Promise<void>;
}> {
  identity ??= generateSelfSigned('glue.test', { ip: ['127.0.0.1'] });
  const { certPem, keyPem } = await identity;
  const server = createTlsServer({ cert: certPem, key: keyPem }, onSocket);
  const open = new Set<TLSSocket>();
  server.on('secureConnection', (s: TLSSocket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const clients = new Set<TLSSocket>();
  return {
    connect: (opts = {}) =>
      new Promise((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => resolve(new ClientConn(s)));
        clients.add(s);
        s.once('error', reject);
      }),
    close: async () => {
      for (const s of [...clients, ...open]) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The client end: what it received, responses one by one, and whether the gateway closed. */
export class ClientConn {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  readonly closedP: Promise<void>;

  constructor(readonly sock: TLSSocket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    sock.on('error', () => undefined); // a reset after the gateway's close: `closed` says enough
    this.closedP = new Promise((r) =>
      sock.once('close', () => {
        this.closed = true;
        this.wake();
        r();
      }),
    );
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private async until<T>(what: string, pick: () => T | null, timeoutMs = 10_000): Promise<T> {
    const deadline = setTimeout(() => this.wake(), timeoutMs);
    const started = Date.now();
    try {
      for (;;) {
        const v = pick();
        if (v !== null) return v;
        if (this.closed) throw new Error(`connection closed while waiting for ${what}; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
        if (Date.now() - started >= timeoutMs) throw new Error(`no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
        await new Promise<void>((r) => this.waiters.push(r));
      }
    } finally {
      clearTimeout(deadline);
    }
  }

  write(data: string | Buffer): void {
    this.sock.write(data);
  }

  /** The next response (Content-Length delimited; `head` for HEAD: no body is read). */
  next(head = false): Promise<HttpResponse> {
    return this.until('a response', () => {
      const p = new HttpResponseParser(undefined, head);
      const r = p.push(this.buf);
      if (r === null) return null;
      this.buf = Buffer.from(p.rest());
      return r;
    });
  }

  /** A response head only (the CONNECT answer: CSTP follows); returns it and the bytes after it. */
  nextHead(): Promise<{ status: number; reason: string; headers: Array<[string, string]> }> {
    return this.until('a response head', () => {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return null;
      const lines = this.buf.toString('latin1', 0, end).split('\r\n');
      this.buf = this.buf.subarray(end + 4);
      const m = /^HTTP\/1\.1 (\d{3}) (.*)$/.exec(lines[0]!);
      if (!m) throw new Error(`not a status line: ${lines[0]}`);
      const headers = lines.slice(1).map((l): [string, string] => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
      return { status: Number(m[1]), reason: m[2]!, headers };
    });
  }

  /** Bytes received and not yet consumed. */
  pending(): Buffer {
    return this.buf;
  }

  /** Waits for `n` unconsumed bytes and takes them. */
  take(n: number): Promise<Buffer> {
    return this.until(`${n} bytes`, () => {
      if (this.buf.length < n) return null;
      const b = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      return Buffer.from(b);
    });
  }

  /** Resolves once the gateway closed the connection (with whatever came before). */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await this.until('the close', () => (this.closed ? true : null), timeoutMs).catch((e: Error) => {
      if (!this.closed) throw e;
    });
  }

  end(): void {
    this.sock.destroy();
  }
}

/** An HTTP request as the gateway parser sees it (for calling openTunnel directly). */
export function parseRequest(text: string): { req: HttpRequest; rest: Buffer } {
  const p = new HttpRequestParser();
  const [req] = p.push(Buffer.from(text, 'latin1'));
  if (!req) throw new Error('incomplete request');
  return { req, rest: p.rest() };
}

/** Waits (generously: a loaded machine is slow) until `cond` holds; throws naming `what`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
