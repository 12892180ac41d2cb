/**
 * The authentication engine: runs a group's `auth:` chain (methods in order, each must pass),
 * then its `second-factor`, and keeps the conversations of logins that wait for an answer (a
 * RADIUS challenge, a TOTP code, a new password). No HTTP, no XML: AuthHandler renders prompts.
 *
 * Where it runs: in `sslgate serve` inside the privileged process (like ocserv's sec-mod), which
 * owns the user store, the backend secrets and the TOTP secrets; the network process asks it
 * over the channel. Tests may run it in-process.
 *
 * Conversations are keyed by a random 128-bit handle, bound to the client address, single use
 * (each answer gets a new handle), bounded in number and expire after `limits.auth-timeout`.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log.js';
import type { GatewayConfig, GroupConfig } from '../config.js';
import type { AuthAnswer, AuthOutcome, AuthStart, Authenticator, ClientCertInfo, Identity, LoginContext, MethodResult, PasswordMethod, Prompt, SecondFactor, SessionAttributes } from './types.js';
export type { SecondFactor } from './types.js';
import type { CertIdentity } from './client-cert.js';

/** The user (and groups) a verified certificate stands for, per tls.cert-user / cert-group. */
export type CertificateIdentity = (cert: ClientCertInfo) => CertIdentity;

export interface EngineDeps {
  config: () => GatewayConfig;
  /** 'local' and the names under auth-servers */
  method: (name: string) => PasswordMethod | undefined;
  secondFactor: (name: 'totp') => SecondFactor | undefined;
  certificate: CertificateIdentity;
  log: Logger;
  now?: () => number;
}

export const CERTIFICATE = 'certificate';
export const MAX_CONVERSATIONS = 4096;
const MAX_FIELD = 1024;

type Pending =
  | { kind: 'method'; method: string; state: unknown; echo: boolean }
  | { kind: 'change'; method: string; state: unknown }
  | { kind: 'second-factor'; state: unknown };

interface Conversation {
  group: string;
  remote: string;
  cert?: ClientCertInfo;
  /** index in the chain of the method now running */
  index: number;
  user: string;
  password: string;
  identity: Identity;
  /** the groups each restricting method allowed (intersected at the end) */
  allowed: string[][];
  pending: Pending | null;
  expires: number;
}

/** The chain of a group: `auth:` or [local]. */
export function chainOf(group: GroupConfig): string[] {
  return group.auth && group.auth.length > 0 ? group.auth : ['local'];
}

/** A group whose chain asks for no password (certificate only): the init can log in at once. */
export function needsPassword(group: GroupConfig): boolean {
  return chainOf(group).some((m) => m !== CERTIFICATE);
}

const failed = (reason: Extract<AuthOutcome, { kind: 'failure' }>['reason'], message: string, user?: string): AuthOutcome => ({ kind: 'failure', reason, message, ...(user ? { user } : {}) });

export class AuthEngine implements Authenticator {
  private readonly conversations = new Map<string, Conversation>();
  private readonly now: () => number;

  constructor(private readonly d: EngineDeps) {
    this.now = d.now ?? Date.now;
  }

  get pending(): number {
    return this.conversations.size;
  }

  async start(req: AuthStart): Promise<AuthOutcome> {
    const group = this.group(req.group);
    if (!group) return failed('group-not-allowed', `Unknown group ${req.group}.`);
    const c: Conversation = {
      group: group.name,
      remote: req.remote,
      index: 0,
      user: req.user,
      password: req.password,
      identity: { user: req.user, group: group.name, attrs: {}, methods: [], messages: [] },
      allowed: [],
      pending: null,
      expires: 0,
    };
    if (req.cert) c.cert = req.cert;
    return this.run(c);
  }

  async answer(req: AuthAnswer): Promise<AuthOutcome> {
    this.sweep();
    const c = this.conversations.get(req.handle);
    // Single use: whatever happens next gets a new handle.
    this.conversations.delete(req.handle);
    if (!c || c.remote !== req.remote || !c.pending) {
      return failed('conversation-unknown', 'The login took too long or was already answered; please log in again.');
    }
    const f = req.fields;
    const field = (...names: string[]): string => {
      for (const n of names) {
        const v = f[n];
        if (v !== undefined) return v.slice(0, MAX_FIELD);
      }
      return '';
    };
    const p = c.pending;
    c.pending = null;
    const out = await this.answerPending(c, p, f, field);
    // The reply to a follow-up form names no group: a failure says which login it ends.
    return out.kind === 'failure' ? { ...out, group: c.group } : out;
  }

  private async answerPending(c: Conversation, p: Pending, f: Record<string, string>, field: (...names: string[]) => string): Promise<AuthOutcome> {
    switch (p.kind) {
      case 'method': {
        const m = this.d.method(p.method);
        if (!m?.respond) return failed('backend-error', 'The authentication server is no longer configured.', c.user);
        // openconnect renames a challenge's `answer` to `password` (PROTOCOL.md §2.4).
        const r = await this.safely(p.method, () => m.respond!(c.user, p.state, field('password', 'answer', 'secondary_password'), this.ctx(c)));
        return this.afterMethod(c, p.method, r);
      }
      case 'change': {
        const m = this.d.method(p.method);
        if (!m?.changePassword) return failed('backend-error', 'This account cannot change its password here.', c.user);
        // openconnect sends the new password once as <password> and checks the confirmation
        // itself (auth.c maps new_password -> password, drops verify_password, §2.4); AnyConnect
        // and our client may send both fields.
        const next = field('new_password', 'password');
        const verify = f['verify_password'];
        if (!next) return this.ask(c, { kind: 'change', method: p.method, state: p.state }, this.changePrompt('Please enter a new password.'));
        if (verify !== undefined && verify !== next) {
          return this.ask(c, { kind: 'change', method: p.method, state: p.state }, this.changePrompt('The two passwords do not match.'));
        }
        const r = await this.safely(p.method, () => m.changePassword!(c.user, c.password, next, p.state));
        // `expired` again: the new password broke the policy; the form comes back with the reason.
        if (r.kind === 'expired') return this.ask(c, { kind: 'change', method: p.method, state: p.state }, this.changePrompt(r.message || 'That password cannot be used.'));
        if (r.kind === 'accept') {
          this.d.log.info({ user: c.user, method: p.method }, 'password changed at login');
          c.password = next;
        }
        return this.afterMethod(c, p.method, r);
      }
      case 'second-factor': {
        const sf = this.d.secondFactor('totp');
        if (!sf) return failed('backend-error', 'The second factor is not available.', c.user);
        const r = await this.safely('totp', () => sf.respond(c.user, p.state, field('password', 'answer', 'secondary_password').trim(), this.ctx(c)));
        if (r.kind !== 'accept') return this.refuse(c, 'totp', r);
        c.identity.methods.push('totp');
        return this.success(c);
      }
    }
  }

  private group(name: string): GroupConfig | undefined {
    return this.d.config().groups.find((g) => g.name === name);
  }

  private ctx(c: Conversation): LoginContext {
    return { remote: c.remote, group: c.group, ...(c.cert ? { cert: c.cert } : {}) };
  }

  /** Runs the chain from c.index until a prompt, a failure or the end. */
  private async run(c: Conversation): Promise<AuthOutcome> {
    const group = this.group(c.group);
    if (!group) return failed('group-not-allowed', `Unknown group ${c.group}.`, c.user);
    const chain = chainOf(group);
    while (c.index < chain.length) {
      const name = chain[c.index]!;
      if (name === CERTIFICATE) {
        const out = this.certificateStep(c);
        if (out) return out;
        c.index++;
        continue;
      }
      const m = this.d.method(name);
      if (!m) {
        this.d.log.error({ group: c.group, method: name }, 'login failed: the group names an auth method that is not configured');
        return failed('backend-error', 'Login is not available for this group.', c.user);
      }
      if (!c.user || !c.password) return failed('bad-credentials', 'Please enter a username and a password.', c.user);
      const r = await this.safely(name, () => m.authenticate(c.user, c.password, this.ctx(c)));
      const out = await this.afterMethod(c, name, r, true);
      if (out) return out;
    }
    return this.finish(c);
  }

  /** Applies one method's result. Returns an outcome to stop at, or (inChain) null to go on. */
  private async afterMethod(c: Conversation, name: string, r: MethodResult, inChain: true): Promise<AuthOutcome | null>;
  private async afterMethod(c: Conversation, name: string, r: MethodResult): Promise<AuthOutcome>;
  private async afterMethod(c: Conversation, name: string, r: MethodResult, inChain = false): Promise<AuthOutcome | null> {
    switch (r.kind) {
      case 'accept':
        if (r.user && r.user !== c.identity.user) {
          // A backend may canonicalise the name (case, domain): keep its spelling.
          c.identity.user = r.user;
        }
        if (r.groups) c.allowed.push(r.groups);
        if (r.attrs) mergeAttributes(c.identity.attrs, r.attrs);
        if (r.message) c.identity.messages.push(r.message);
        c.identity.methods.push(name);
        c.index++;
        return inChain ? null : this.run(c);
      case 'challenge':
        return this.ask(c, { kind: 'method', method: name, state: r.state, echo: r.echo === true }, {
          authId: 'challenge',
          title: 'Challenge',
          message: r.message || 'Please enter your response.',
          inputs: [{ type: r.echo ? 'text' : 'password', name: 'password', label: 'Response:' }],
        });
      case 'expired':
        if (r.canChange) {
          this.d.log.info({ user: c.user, method: name }, 'password expired: asking for a new one');
          return this.ask(c, { kind: 'change', method: name, state: r.state }, this.changePrompt(r.message || 'Your password has expired. Please enter a new password.', false));
        }
        return this.refuse(c, name, r);
      case 'reject':
      case 'error':
        return this.refuse(c, name, r);
    }
  }

  private refuse(c: Conversation, method: string, r: MethodResult): AuthOutcome {
    const user = c.identity.user || c.user;
    switch (r.kind) {
      case 'error':
        this.d.log.warn({ user, method, err: r.message }, 'login failed: the authentication backend did not answer');
        return failed('backend-error', 'The authentication service is not available; please try again later.', user);
      case 'expired':
        return failed('expired', r.message || 'Your password has expired; please change it first.', user);
      case 'reject':
        return failed('bad-credentials', r.message ? `Login failed: ${r.message}` : 'Login failed.', user);
      default:
        return failed('bad-credentials', 'Login failed.', user);
    }
  }

  private certificateStep(c: Conversation): AuthOutcome | null {
    if (!c.cert) return failed('no-certificate', 'This profile requires a valid client certificate.', c.user);
    const id = this.d.certificate(c.cert);
    if (!id.ok) return failed('bad-certificate', id.error, c.user);
    // With a password method after it (auth: [certificate, local]) the typed name must be the
    // certificate's (ocserv does the same when both are enabled); an empty one takes it.
    if (c.user && c.user !== id.user) {
      this.d.log.warn({ user: c.user, certUser: id.user }, 'login failed: the user name differs from the certificate');
      return failed('bad-certificate', 'The user name does not match the certificate.', c.user);
    }
    c.user = id.user;
    c.identity.user = id.user;
    if (id.groups) c.allowed.push(id.groups);
    c.identity.methods.push(CERTIFICATE);
    return null;
  }

  private async finish(c: Conversation): Promise<AuthOutcome> {
    const user = c.identity.user;
    const ok = c.allowed.every((gs) => gs.some((g) => g.toLowerCase() === c.group.toLowerCase()));
    if (!ok) return failed('group-not-allowed', 'Login failed.', user);
    // The groups the session may pick later (none of the methods restricted: every group).
    if (c.allowed.length > 0) c.identity.groups = c.allowed.reduce((a, b) => a.filter((g) => b.some((x) => x.toLowerCase() === g.toLowerCase())));
    const group = this.group(c.group);
    if (group?.secondFactor === 'totp') {
      const sf = this.d.secondFactor('totp');
      if (!sf) return failed('backend-error', 'The second factor is not available.', user);
      const r = await this.safely('totp', () => sf.begin(user, this.ctx(c)));
      if (r.kind === 'challenge') {
        return this.ask(c, { kind: 'second-factor', state: r.state }, {
          authId: 'challenge',
          title: 'Verification code',
          message: r.message || 'Please enter the code from your authenticator app.',
          inputs: [{ type: 'password', name: 'password', label: 'Code:' }],
        });
      }
      if (r.kind !== 'accept') return this.refuse(c, 'totp', r);
    }
    return this.success(c);
  }

  private success(c: Conversation): AuthOutcome {
    return { kind: 'success', identity: c.identity };
  }

  private changePrompt(message: string, mismatch = true): Prompt {
    const p: Prompt = {
      authId: 'passwd-change',
      title: 'Change password',
      message: mismatch ? 'Please enter a new password.' : message,
      inputs: [
        { type: 'password', name: 'new_password', label: 'New Password:' },
        { type: 'password', name: 'verify_password', label: 'Verify Password:' },
      ],
    };
    if (mismatch) p.error = message;
    return p;
  }

  private ask(c: Conversation, pending: Pending, prompt: Prompt): AuthOutcome {
    this.sweep();
    if (this.conversations.size >= MAX_CONVERSATIONS) {
      this.d.log.warn({ user: c.user, pending: this.conversations.size }, 'login refused: too many logins waiting for an answer');
      return failed('busy', 'The gateway is busy; please try again later.', c.user);
    }
    c.pending = pending;
    c.expires = this.now() + this.d.config().limits.authTimeout * 1000;
    const handle = randomBytes(16).toString('base64url');
    this.conversations.set(handle, c);
    return { kind: 'prompt', handle, prompt };
  }

  private sweep(): void {
    const t = this.now();
    for (const [h, c] of this.conversations) if (c.expires <= t) this.conversations.delete(h);
  }

  /** A method that throws is a backend error, never a crash of the login path. */
  private async safely(name: string, f: () => Promise<MethodResult>): Promise<MethodResult> {
    try {
      return await f();
    } catch (e) {
      this.d.log.error({ method: name, err: (e as Error).message }, 'auth method failed');
      return { kind: 'error', message: (e as Error).message };
    }
  }
}

/** Later methods add to what earlier ones set; a single value from a later method wins. */
export function mergeAttributes(into: SessionAttributes, from: SessionAttributes): void {
  if (from.framedIp) into.framedIp = from.framedIp;
  if (from.routes) into.routes = [...(into.routes ?? []), ...from.routes];
  if (from.dns) into.dns = [...(into.dns ?? []), ...from.dns];
  if (from.sessionTimeout !== undefined) into.sessionTimeout = from.sessionTimeout;
  if (from.idleTimeout !== undefined) into.idleTimeout = from.idleTimeout;
  if (from.acctInterim !== undefined) into.acctInterim = from.acctInterim;
  if (from.radiusClass) into.radiusClass = [...(into.radiusClass ?? []), ...from.radiusClass];
}
