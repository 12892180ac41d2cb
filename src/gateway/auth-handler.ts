/**
 * Steps 2-3 of the flow on the gateway (PROTOCOL.md §2): group selection and login.
 *
 *   init [group-select]        -> auth-request: username + password + <select> of the groups,
 *                                 the chosen (or default) one selected="true"
 *   auth-reply user/pass/group -> complete (session token, server cert hash, profile manifest)
 *                              or the form again with <error> (ASA style: the connection stays)
 *   logout                     -> session destroyed
 *
 * One form carries username and password (openconnect 9 and AnyConnect fill both; ocserv >= 1.4
 * does the same, §2.6.4). Failures are events: the BanGuard scores them per address and user;
 * session limits (max clients, per user) are checked before a session is created.
 */
import { AuthXmlError, buildAuthComplete, buildAuthRequest, parseClientAuth, type AuthRequestDoc, type ClientAuthDoc, type ProfileManifestEntry } from '../protocol/auth-xml.js';
import type { Logger } from '../log.js';
import { PRODUCT, VERSION } from '../version.js';
import type { GatewayConfig, GroupConfig } from './config.js';
import type { IpPool } from './ip-pool.js';
import type { BanGuard } from './ban-guard.js';
import type { GatewayEvents } from './ops/events.js';
import { admitSession, sessionTimeouts } from './session-limits.js';
import type { Session, SessionStore } from './sessions.js';
import { isValidUserName, printableUserName } from './user-name.js';
import type { ClientCertInfo } from './auth/types.js';

export interface HttpReply {
  status: number;
  reason: string;
  headers: Array<[string, string]>;
  body: string;
  /** close the connection after this answer */
  close?: boolean;
}

export interface RequestContext {
  remoteAddr: string;
  userAgent: string;
  /** request path (a group URL like /Employees preselects that group, §1.5) */
  path: string;
  /** the connection's TLS client certificate, verified against tls.client-ca (and tls.crl) */
  cert?: ClientCertInfo;
  /** the client presented a certificate that failed verification: why, for the user */
  certError?: string;
}

/**
 * Checks a user's password. The gateway's network process never holds password hashes: in
 * `sslgate serve` this is a request to the privileged process (gateway/priv/), which owns the
 * user store; tests may pass a UserStore or a fake.
 */
export interface PasswordChecker {
  /** The user's allowed groups (undefined = every group) when the password is right, else null. */
  verify(user: string, password: string): Promise<{ groups?: string[] | undefined } | null>;
}

export interface AuthDeps {
  config: () => GatewayConfig;
  users: PasswordChecker;
  sessions: SessionStore;
  guard: BanGuard;
  /** login, failures (the guard scores them from here), limits */
  events: GatewayEvents;
  pools: Map<string, IpPool>;
  serverCertSha1: string;
  profile: () => ProfileManifestEntry | null;
  log: Logger;
  /** called when a logout or failure ends a session */
  endSession: (s: Session, why: string) => void;
}

const GATEWAY_VERSION = `${PRODUCT} ${VERSION}`;
const XML_HEADERS: Array<[string, string]> = [
  ['Content-Type', 'text/xml; charset=utf-8'],
  ['X-Transcend-Version', '1'],
  ['X-Aggregate-Auth', '1'],
];

export const LOGIN_FAILED = 'Login failed.';

export class AuthHandler {
  constructor(private readonly d: AuthDeps) {}

  async handlePost(body: string, ctx: RequestContext): Promise<HttpReply> {
    let doc: ClientAuthDoc;
    try {
      doc = parseClientAuth(body);
    } catch (e) {
      const msg = e instanceof AuthXmlError ? e.message : 'unreadable request';
      this.d.log.warn({ remote: ctx.remoteAddr, err: msg }, 'bad auth request');
      this.d.events.emit({ type: 'bad-request', remote: ctx.remoteAddr, reason: 'auth-xml' });
      return { status: 400, reason: 'Bad Request', headers: [], body: '', close: true };
    }
    switch (doc.type) {
      case 'init':
        return this.form(this.chooseGroup(doc.groupSelect, ctx.path).group, ctx, this.unknownGroupError(doc.groupSelect));
      case 'auth-reply':
        return this.login(doc, ctx);
      case 'logout':
        return this.logout(doc.sessionToken);
    }
  }

  /** The login form for `group`. */
  form(group: GroupConfig, ctx: RequestContext, error?: string): HttpReply {
    const cfg = this.d.config();
    const doc: AuthRequestDoc = {
      authId: 'main',
      title: 'Login',
      message: 'Please enter your username and password.',
      inputs: [
        { type: 'text', name: 'username', label: 'Username:' },
        { type: 'password', name: 'password', label: 'Password:' },
      ],
      groups: cfg.groups.map((g) => ({ name: g.name, label: g.label })),
      selectedGroup: group.name,
      gatewayVersion: GATEWAY_VERSION,
      action: '/',
    };
    if (cfg.banner) doc.banner = cfg.banner;
    if (error) doc.error = error;
    void ctx;
    return { status: 200, reason: 'OK', headers: XML_HEADERS, body: buildAuthRequest(doc) };
  }

  private chooseGroup(requested: string | undefined, path: string): { group: GroupConfig; found: boolean } {
    const groups = this.d.config().groups;
    const byPath = decodeURIComponent(path.replace(/^\/+/, '').split(/[/?]/)[0] ?? '');
    for (const want of [requested, byPath]) {
      if (!want) continue;
      const w = want.toLowerCase();
      // Match the value or the label (ocserv accepts the friendly name too, quirk 28).
      const g = groups.find((x) => x.name.toLowerCase() === w) ?? groups.find((x) => x.label.toLowerCase() === w);
      if (g) return { group: g, found: true };
    }
    return { group: groups[0]!, found: requested === undefined };
  }

  private unknownGroupError(requested: string | undefined): string | undefined {
    if (requested === undefined) return undefined;
    return this.chooseGroup(requested, '/').found ? undefined : `Unknown group ${requested}.`;
  }

  private async login(doc: Extract<ClientAuthDoc, { type: 'auth-reply' }>, ctx: RequestContext): Promise<HttpReply> {
    const { group } = this.chooseGroup(doc.groupSelect ?? doc.fields.get('group_list'), ctx.path);
    const user = (doc.fields.get('username') ?? '').trim();
    const password = doc.fields.get('password') ?? '';
    if (user && !isValidUserName(user)) {
      // No such user can exist: a failed login, scored against the address only (user-name.ts).
      this.d.log.warn({ remote: ctx.remoteAddr, user: printableUserName(user), group: group.name, reason: 'invalid user name' }, 'login failed');
      this.d.events.emit({ type: 'auth-failure', remote: ctx.remoteAddr, group: group.name, reason: 'bad-credentials' });
      return this.form(group, ctx, LOGIN_FAILED);
    }
    const banned = this.d.guard.bannedFor(ctx.remoteAddr);
    if (banned > 0) {
      this.d.log.warn({ remote: ctx.remoteAddr, user }, 'login refused: address is banned');
      this.d.events.emit({ type: 'auth-failure', remote: ctx.remoteAddr, user, group: group.name, reason: 'address-banned' });
      return this.form(group, ctx, `Too many failed logins; try again in ${Math.ceil(banned / 1000)} seconds.`);
    }
    if (!user || !password) return this.form(group, ctx, 'Please enter a username and a password.');
    const locked = this.d.guard.userLockedFor(user);
    if (locked > 0) {
      // Checked before the password: a locked name gives a guesser no answer at all.
      this.d.log.warn({ remote: ctx.remoteAddr, user }, 'login refused: user name is locked');
      this.d.events.emit({ type: 'auth-failure', remote: ctx.remoteAddr, user, group: group.name, reason: 'user-locked' });
      return this.form(group, ctx, `Too many failed logins for this account; try again in ${Math.ceil(locked / 1000)} seconds.`);
    }
    const rec = await this.d.users.verify(user, password);
    const allowed = rec && (!rec.groups || rec.groups.some((g) => g.toLowerCase() === group.name.toLowerCase()));
    if (!rec || !allowed) {
      this.d.log.warn({ remote: ctx.remoteAddr, user, group: group.name, reason: rec ? 'group not allowed' : 'bad credentials' }, 'login failed');
      this.d.events.emit({ type: 'auth-failure', remote: ctx.remoteAddr, user, group: group.name, reason: rec ? 'group-not-allowed' : 'bad-credentials' });
      const delay = this.d.guard.delayFor(ctx.remoteAddr);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      return this.form(group, ctx, LOGIN_FAILED);
    }
    this.d.guard.succeed(ctx.remoteAddr, user);
    const cfg = this.d.config();
    const admit = admitSession(cfg, this.d.sessions.all(), this.d.sessions.size, user);
    if (!admit.ok) {
      this.d.log.warn({ remote: ctx.remoteAddr, user, reason: admit.reason }, 'login refused: limit reached');
      this.d.events.emit({ type: 'auth-failure', remote: ctx.remoteAddr, user, group: group.name, reason: admit.reason });
      return this.form(group, ctx, admit.message);
    }
    for (const old of admit.evict) this.d.endSession(old, 'replaced by a newer login (max-sessions-per-user)');
    const pool = this.d.pools.get(group.name)!;
    const s = this.d.sessions.create(user, group, pool, ctx.remoteAddr, ctx.userAgent, sessionTimeouts(cfg, group));
    this.d.log.info({ session: s.id, user, group: group.name, remote: ctx.remoteAddr, agent: ctx.userAgent }, 'login');
    this.d.events.emit({ type: 'login', session: s.id, user, group: group.name, remote: ctx.remoteAddr, agent: ctx.userAgent });
    const profile = this.d.profile();
    const banner = group.banner ?? cfg.banner;
    const complete = buildAuthComplete({
      sessionId: String(s.id),
      sessionToken: s.token,
      serverCertHash: this.d.serverCertSha1,
      gatewayVersion: GATEWAY_VERSION,
      ...(banner ? { banner } : {}),
      ...(profile ? { profile } : {}),
    });
    // The token goes both in <session-token> and in Set-Cookie (§2.6.10 recommendation).
    return {
      status: 200,
      reason: 'OK',
      headers: [...XML_HEADERS, ['Set-Cookie', `webvpn=${s.token}; Secure; HttpOnly`]],
      body: complete,
    };
  }

  private logout(token: string | undefined): HttpReply {
    const s = this.d.sessions.byCookie(token);
    if (s) this.d.endSession(s, 'logout');
    return { status: 200, reason: 'OK', headers: [['X-Transcend-Version', '1']], body: '' };
  }
}
