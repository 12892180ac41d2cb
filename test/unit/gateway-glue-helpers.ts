/**
 * Fakes for the gateway glue unit tests (AuthHandler, serveConnection, openTunnel): a real config,
 * SessionStore, BanGuard, pools and events, with a fake password checker, a fake router and a
 * recorder of ended sessions. No TUN, no privileged process, no child processes.
 */
import { pino } from 'pino';
import { AuthHandler, type AuthDeps, type PasswordChecker } from '../../src/gateway/auth-handler.js';
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
    users: passwords,
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
