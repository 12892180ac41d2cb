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
import { AuthXmlError, buildAuthComplete, buildAuthRequest, parseClientAuth, authHandleOf, handleOpaque, type AuthRequestDoc, type ClientAuthDoc, type ProfileManifestEntry } from '../protocol/auth-xml.js';
import type { Logger } from '../log.js';
import { PRODUCT, VERSION } from '../version.js';
import type { GatewayConfig, GroupConfig } from './config.js';
import type { IpPool } from './ip-pool.js';
import type { BanGuard } from './ban-guard.js';
import type { AuthFailureReason, GatewayEvents } from './ops/events.js';
import { admitSession, sessionTimeouts, type OtherSession } from './session-limits.js';
import type { Session, SessionStore } from './sessions.js';
import { needsPassword } from './auth/engine.js';
import type { AuthOutcome, Authenticator, ClientCertInfo, Identity, Prompt } from './auth/types.js';
import { isValidUserName, printableUserName } from './user-name.js';
import { sessionRecordOf } from './state/session-record.js';
import type { SessionRecord } from './state/types.js';
import type { LoginRoute } from './cluster/view.js';
import { UserTurns } from './user-turns.js';

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
  /** the webvpncontext cookie: the handle of a login waiting for an answer (ocserv's name) */
  contextCookie?: string;
  /** cluster: the client carries PLACED_COOKIE: a node already took this login, it stays there */
  placed?: boolean;
  /** the TLS client certificate, verified against tls.client-ca */
  cert?: ClientCertInfo;
  /** why the client's certificate was not accepted (expired, unknown CA, revoked) */
  certError?: string;
}

export interface AuthDeps {
  config: () => GatewayConfig;
  /**
   * Runs the login (auth/engine.ts). The gateway's network process holds no password hashes or
   * backend secrets: in `sslgate serve` this asks the privileged process (gateway/priv/); tests
   * may pass an AuthEngine.
   */
  auth: Authenticator;
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
  /** a session was created by a login (accounting starts) */
  loggedIn?: (s: Session) => void;
  /** the session's record for the store (state/session-record.ts, with this node's name) */
  record?: (s: Session) => SessionRecord;
  /**
   * cluster: where a new login goes (cluster/view.ts): on here, to another node (a 302 to its
   * address, which openconnect follows, redoing the login there), or refused (draining).
   */
  route?: (path: string) => LoginRoute;
  /** cluster: why this node takes no new session (draining), or null */
  refuseSession?: () => string | null;
  /**
   * workers > 1: the user's sessions on the other workers (max-sessions-per-user holds for the
   * whole gateway), how to end some of them there (session-overflow: end-oldest), and the user's
   * lock that makes count-evict-record one step for the whole gateway (priv/user-locks.ts):
   * its release, or null (busy)
   */
  elsewhere?: { sessionsOf(user: string): Promise<OtherSession[]>; end(ids: number[]): Promise<void>; lock(user: string): Promise<(() => void) | null> };
}

const GATEWAY_VERSION = `${PRODUCT} ${VERSION}`;
const XML_HEADERS: Array<[string, string]> = [
  ['Content-Type', 'text/xml; charset=utf-8'],
  ['X-Transcend-Version', '1'],
  ['X-Aggregate-Auth', '1'],
];

export const LOGIN_FAILED = 'Login failed.';

/**
 * cluster: set on the first answer a node gives a login it keeps (balance.ts). openconnect sends
 * the host's cookies back on its next requests, among them a second `init` (a group change):
 * without it, that request could be sent to another node in the middle of the login.
 */
export const PLACED_COOKIE = 'sslgate-lb';

/** How each engine failure is counted (the ban guard scores bad-credentials and group-not-allowed). */
const FAILURE_EVENT: Record<Extract<AuthOutcome, { kind: 'failure' }>['reason'], AuthFailureReason> = {
  'bad-credentials': 'bad-credentials',
  'group-not-allowed': 'group-not-allowed',
  // A wrong or stale handle is a guess like a wrong password.
  'conversation-unknown': 'bad-credentials',
  expired: 'password-expired',
  'backend-error': 'backend-error',
  busy: 'auth-busy',
  'no-certificate': 'bad-certificate',
  'bad-certificate': 'bad-certificate',
};

export class AuthHandler {
  /** one process: one login per user at a time counts and records (several workers: elsewhere.lock) */
  private readonly turns = new UserTurns();

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
      case 'init': {
        const { group } = this.chooseGroup(doc.groupSelect, ctx.path);
        // The first request of a login is where a cluster sends the client to another node.
        const routed = this.routed(group, ctx);
        if (routed) return routed;
        if (this.d.route && !ctx.placed) return this.placedHere(await this.initAnswer(doc.groupSelect, group, ctx));
        return this.initAnswer(doc.groupSelect, group, ctx);
      }
      case 'auth-reply':
        return this.login(doc, ctx);
      case 'logout':
        return await this.logout(doc.sessionToken);
    }
  }

  /** The answer to an `init`: the login form, or straight to a certificate login. */
  private initAnswer(groupSelect: string | undefined, group: GroupConfig, ctx: RequestContext): Promise<HttpReply> | HttpReply {
    const unknown = this.unknownGroupError(groupSelect);
    // A certificate-only profile logs in at once, without a form (as ocserv does).
    // Only when the client named the group (or there is no other): openconnect's first init
    // never names one, even with --authgroup, and would land in a certificate-only default.
    if (!unknown && !needsPassword(group) && (groupSelect !== undefined || this.d.config().groups.length === 1)) return this.begin(group, '', '', ctx);
    return this.form(group, ctx, unknown);
  }

  /** Marks a login this node keeps (PLACED_COOKIE): its later requests are not routed elsewhere. */
  private placedHere(r: HttpReply): HttpReply {
    return { ...r, headers: [...r.headers, ['Set-Cookie', `${PLACED_COOKIE}=1; Secure; HttpOnly`]] };
  }

  /**
   * A cluster's answer to the first request of a login when it does not go on here: a 302 to the
   * node that takes it (ASA-style load balancing, drain), or the form with why not. Null: go on.
   */
  routed(group: GroupConfig, ctx: RequestContext): HttpReply | null {
    if (ctx.placed) return null;
    const r = this.d.route?.(ctx.path);
    if (!r || r.kind === 'stay') return null;
    if (r.kind === 'refuse') return this.form(group, ctx, r.message);
    this.d.log.info({ remote: ctx.remoteAddr, node: r.node, location: r.location }, 'login redirected to another node');
    return { status: 302, reason: 'Found', headers: [['Location', r.location], ['X-Transcend-Version', '1']], body: '', close: true };
  }

  /** GET / (the legacy flow's login page): routed like the first POST, else the form. */
  loginPage(group: GroupConfig, ctx: RequestContext): HttpReply {
    const routed = this.routed(group, ctx);
    if (routed) return routed;
    return this.d.route && !ctx.placed ? this.placedHere(this.form(group, ctx)) : this.form(group, ctx);
  }

  /** The login form for `group`. */
  form(group: GroupConfig, ctx: RequestContext, error?: string): HttpReply {
    const cfg = this.d.config();
    const doc: AuthRequestDoc = {
      authId: 'main',
      title: 'Login',
      // A certificate-only profile has nothing to type: the form only offers the group choice.
      message: needsPassword(group) ? 'Please enter your username and password.' : 'Please select your group.',
      inputs: needsPassword(group)
        ? [
            { type: 'text', name: 'username', label: 'Username:' },
            { type: 'password', name: 'password', label: 'Password:' },
          ]
        : [],
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
    const handle = authHandleOf(doc.opaque) ?? ctx.contextCookie;
    // A reply without a username that carries a handle answers a follow-up form; a full login
    // form (username present) starts over even when an old webvpncontext cookie is still sent.
    if (handle && !doc.fields.has('username')) return this.answer(handle, doc, ctx);
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
    if (!password && needsPassword(group)) return this.form(group, ctx, 'Please enter a username and a password.');
    if (user) {
      const locked = this.d.guard.userLockedFor(user);
      if (locked > 0) {
        // Checked before the password: a locked name gives a guesser no answer at all.
        this.d.log.warn({ remote: ctx.remoteAddr, user }, 'login refused: user name is locked');
        this.d.events.emit({ type: 'auth-failure', remote: ctx.remoteAddr, user, group: group.name, reason: 'user-locked' });
        return this.form(group, ctx, `Too many failed logins for this account; try again in ${Math.ceil(locked / 1000)} seconds.`);
      }
    }
    return this.begin(group, user, password, ctx);
  }

  private async begin(group: GroupConfig, user: string, password: string, ctx: RequestContext): Promise<HttpReply> {
    if (ctx.certError && !needsPassword(group)) {
      this.d.log.warn({ remote: ctx.remoteAddr, group: group.name, reason: ctx.certError }, 'login failed: client certificate refused');
    }
    const out = await this.d.auth.start({ group: group.name, user, password, remote: ctx.remoteAddr, ...(ctx.cert ? { cert: ctx.cert } : {}) });
    return this.outcome(out, group, ctx, user);
  }

  /** The answer to a follow-up form (challenge, second factor, new password). */
  private async answer(handle: string, doc: Extract<ClientAuthDoc, { type: 'auth-reply' }>, ctx: RequestContext): Promise<HttpReply> {
    const banned = this.d.guard.bannedFor(ctx.remoteAddr);
    const group = this.chooseGroup(doc.groupSelect, ctx.path).group;
    if (banned > 0) return this.form(group, ctx, `Too many failed logins; try again in ${Math.ceil(banned / 1000)} seconds.`);
    const fields: Record<string, string> = {};
    for (const [k, v] of doc.fields) fields[k] = v;
    const out = await this.d.auth.answer({ handle, fields, remote: ctx.remoteAddr });
    // The reply names no group: a failure is logged and the form shown again with the login's.
    const own = out.kind === 'failure' && out.group ? this.d.config().groups.find((g) => g.name === out.group) : undefined;
    return this.outcome(out, own ?? group, ctx, '');
  }

  private async outcome(out: AuthOutcome, group: GroupConfig, ctx: RequestContext, typed: string): Promise<HttpReply> {
    switch (out.kind) {
      case 'prompt':
        return this.prompt(out.handle, out.prompt);
      case 'failure': {
        const user = out.user ?? typed;
        const reason = FAILURE_EVENT[out.reason];
        const message = out.reason === 'no-certificate' && ctx.certError ? `Your certificate was refused: ${ctx.certError}` : out.message;
        this.d.log.warn({ remote: ctx.remoteAddr, user, group: group.name, reason: out.reason }, 'login failed');
        this.d.events.emit({ type: 'auth-failure', remote: ctx.remoteAddr, ...(user ? { user } : {}), group: group.name, reason });
        const delay = this.d.guard.delayFor(ctx.remoteAddr);
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        // A certificate-only profile gets its (empty) form back with the reason: openconnect prints
        // it, and stops by itself after a second empty form (its loop guard).
        return this.form(group, ctx, message);
      }
      case 'success':
        return this.complete(out.identity, ctx);
    }
  }

  /** A follow-up form: ASA's challenge shape (§2.6.6), the handle in <opaque> and a cookie. */
  private prompt(handle: string, p: Prompt): HttpReply {
    const doc: AuthRequestDoc = {
      authId: p.authId,
      title: p.title,
      message: p.message,
      inputs: p.inputs,
      opaque: handleOpaque(handle),
      gatewayVersion: GATEWAY_VERSION,
      action: '/',
    };
    if (p.error) doc.error = p.error;
    return {
      status: 200,
      reason: 'OK',
      headers: [...XML_HEADERS, ['Set-Cookie', `webvpncontext=${handle}; Secure; HttpOnly`]],
      body: buildAuthRequest(doc),
    };
  }

  private async complete(id: Identity, ctx: RequestContext): Promise<HttpReply> {
    const cfg = this.d.config();
    const group = cfg.groups.find((g) => g.name === id.group);
    const user = id.user;
    if (!group) return this.form(cfg.groups[0]!, ctx, LOGIN_FAILED);
    this.d.guard.succeed(ctx.remoteAddr, user);
    const refused = this.d.refuseSession?.() ?? null;
    if (refused) {
      this.d.log.warn({ remote: ctx.remoteAddr, user, reason: refused }, 'login refused: this node takes no new sessions');
      return this.form(group, ctx, refused);
    }
    // Only when a limit applies: asking the other workers costs round trips through the privileged process.
    const limited = cfg.limits.maxSessionsPerUser !== null;
    const across = limited ? this.d.elsewhere : undefined;
    // From the count until the new session is recorded, no other login of this user counts (else
    // two at the same instant, on one worker or two, could both pass): the user's turn.
    const unlock = across ? await across.lock(user) : limited ? await this.turns.take(user) : undefined;
    if (unlock === null) {
      this.d.log.warn({ remote: ctx.remoteAddr, user, reason: 'auth-busy' }, 'login refused: too many logins of users wait for their turn');
      this.d.events.emit({ type: 'auth-failure', remote: ctx.remoteAddr, user, group: group.name, reason: 'auth-busy' });
      return this.form(group, ctx, 'The gateway is busy; please try again later.');
    }
    let s: Session;
    try {
      const elsewhere = across ? await across.sessionsOf(user) : [];
      const admit = admitSession(cfg, this.d.sessions.all(), this.d.sessions.size, user, elsewhere);
      if (!admit.ok) {
        this.d.log.warn({ remote: ctx.remoteAddr, user, reason: admit.reason }, 'login refused: limit reached');
        this.d.events.emit({ type: 'auth-failure', remote: ctx.remoteAddr, user, group: group.name, reason: admit.reason });
        return this.form(group, ctx, admit.message);
      }
      for (const old of admit.evict) this.d.endSession(old, 'replaced by a newer login (max-sessions-per-user)');
      if (admit.evictElsewhere) await this.d.elsewhere?.end(admit.evictElsewhere);
      const pool = this.d.pools.get(group.name)!;
      try {
        // The id comes from the store and the session is recorded there before the cookie goes
        // out: a cookie the store does not know would not survive a restart (or work on another node).
        s = await this.d.sessions.open(user, group, pool, ctx.remoteAddr, ctx.userAgent, sessionTimeouts(cfg, group, id.attrs), (x) => {
          x.attrs = id.attrs;
          x.methods = id.methods;
          x.loginMessages = id.messages;
        }, this.d.record ?? ((x) => sessionRecordOf(x, 'local')));
      } catch (e) {
        this.d.log.error({ remote: ctx.remoteAddr, user, err: (e as Error).message }, 'login refused: the session store cannot record the session');
        this.d.events.emit({ type: 'auth-failure', remote: ctx.remoteAddr, user, group: group.name, reason: 'backend-error' });
        return this.form(group, ctx, 'The gateway cannot record new sessions right now; please try again later.');
      }
    } finally {
      unlock?.();
    }
    this.d.log.info({ session: s.id, user, group: group.name, remote: ctx.remoteAddr, agent: ctx.userAgent, methods: id.methods }, 'login');
    this.d.events.emit({ type: 'login', session: s.id, user, group: group.name, remote: ctx.remoteAddr, agent: ctx.userAgent, methods: id.methods });
    this.d.loggedIn?.(s);
    const profile = this.d.profile();
    const banner = [group.banner ?? cfg.banner, ...id.messages].filter((x): x is string => !!x).join('\n');
    const complete = buildAuthComplete({
      sessionId: String(s.id),
      sessionToken: s.token,
      serverCertHash: this.d.serverCertSha1,
      gatewayVersion: GATEWAY_VERSION,
      ...(banner ? { banner } : {}),
      ...(profile ? { profile } : {}),
    });
    // The token goes both in <session-token> and in Set-Cookie (§2.6.10 recommendation); the
    // login's webvpncontext is spent.
    return {
      status: 200,
      reason: 'OK',
      headers: [...XML_HEADERS, ['Set-Cookie', `webvpn=${s.token}; Secure; HttpOnly`], ['Set-Cookie', 'webvpncontext=; expires=Thu, 01 Jan 1970 22:00:00 GMT; path=/; Secure; HttpOnly']],
      body: complete,
    };
  }

  private async logout(token: string | undefined): Promise<HttpReply> {
    // A session this process does not carry (logged in before a restart) is found in the store.
    const s = await this.d.sessions.resolve(token).catch(() => this.d.sessions.byCookie(token));
    if (s) this.d.endSession(s, 'logout');
    return { status: 200, reason: 'OK', headers: [['X-Transcend-Version', '1']], body: '' };
  }
}
