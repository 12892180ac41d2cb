/**
 * The privileged process's authentication side: the engine with its methods built from the
 * configuration (local users, the auth-servers, TOTP, certificates), and RADIUS accounting.
 * Rebuilt on reload (a changed server address or secret takes effect for new logins).
 */
import type { Logger } from '../../log.js';
import type { GatewayConfig } from '../config.js';
import type { UserStore } from '../user-store.js';
import type { AcctCause, AcctEvent, AcctRecord } from './accounting-record.js';
import { AuthEngine, type CertificateIdentity, type SecondFactor } from './engine.js';
import { certIdentity } from './client-cert.js';
import { LocalMethod } from './local-method.js';
import { queuedMethod } from './queued-method.js';
import type { AuthQueue } from '../priv/auth-queue.js';
import { TotpFactor } from './totp-factor.js';
import type { PasswordMethod } from './types.js';
import { RadiusAccounting, RadiusMethod } from './radius/index.js';
import { LdapMethod } from './ldap/ldap-method.js';
import type { AuthServerConfig } from './config.js';

export interface Accounting {
  report(event: AcctEvent, record: AcctRecord, cause?: AcctCause): void;
  close?(): Promise<void>;
}

export interface BackendsDeps {
  config: () => GatewayConfig;
  users: () => UserStore;
  log: Logger;
  /** bounds the local password checks (scrypt); absent in tests */
  queue?: AuthQueue;
}

export class AuthBackends {
  readonly engine: AuthEngine;
  private methods = new Map<string, PasswordMethod>();
  private accounting: Accounting | null = null;
  private readonly pendingAcct = new Set<Promise<boolean>>();

  constructor(private readonly d: BackendsDeps) {
    this.engine = new AuthEngine({
      config: d.config,
      method: (name) => this.methods.get(name),
      secondFactor: (name) => this.secondFactor(name),
      certificate: (cert) => this.certificate(cert),
      log: d.log,
    });
    this.rebuild();
  }

  /** (Re)creates the methods from the current configuration. */
  rebuild(): void {
    const old = [...this.methods.values()];
    const cfg = this.d.config();
    const methods = new Map<string, PasswordMethod>();
    const local = new LocalMethod({ users: () => this.d.users() });
    methods.set('local', this.d.queue ? queuedMethod(local, this.d.queue) : local);
    for (const [name, s] of Object.entries(cfg.authServers)) {
      try {
        const m = this.methodFor(s);
        if (m) methods.set(name, m);
      } catch (e) {
        // At start this stops serve with the reason; on reload the server is left out and its
        // groups' logins fail with "not configured" in the log, until the next good reload.
        if (old.length === 0) throw e;
        this.d.log.error({ server: name, err: (e as Error).message }, 'auth server left out after reload');
      }
    }
    this.methods = methods;
    for (const m of old) void m.close?.().catch(() => undefined);
    const oldAcct = this.accounting;
    this.accounting = this.accountingFor(cfg);
    void oldAcct?.close?.().catch(() => undefined);
  }

  private methodFor(s: AuthServerConfig): PasswordMethod | undefined {
    const log = this.d.log.child({ authServer: s.name });
    switch (s.type) {
      case 'radius':
        return new RadiusMethod({ name: s.name, servers: s.servers, secret: s.secret, nasIdentifier: s.nasIdentifier, timeout: s.timeout, retries: s.retries, accounting: s.accounting, log });
      case 'ldap':
        return new LdapMethod({ ...s, userDnTemplate: s.userDn, log });
      default: {
        const other = s as { name: string; type: string };
        this.d.log.warn({ server: other.name, type: other.type }, 'auth server type not available in this build');
        return undefined;
      }
    }
  }

  private accountingFor(cfg: GatewayConfig): Accounting | null {
    const a = cfg.accounting;
    const s = a ? cfg.authServers[a.server] : undefined;
    if (!s || s.type !== 'radius') return null;
    const acct = new RadiusAccounting({ servers: s.accounting, secret: s.secret, nasIdentifier: s.nasIdentifier, timeout: s.timeout, retries: s.retries, log: this.d.log.child({ accounting: s.name }) });
    return {
      report: (event, r, cause) => {
        const sent = event === 'start' ? acct.start(r) : event === 'interim' ? acct.interim(r) : acct.stop(r, cause ?? 'nas-request');
        this.pendingAcct.add(sent);
        void sent.finally(() => this.pendingAcct.delete(sent));
      },
    };
  }

  account(event: AcctEvent, record: AcctRecord, cause?: AcctCause): void {
    if (!this.accounting) {
      this.d.log.debug({ event, session: record.sessionId }, 'accounting record (no accounting server)');
      return;
    }
    this.accounting.report(event, record, cause);
  }

  private secondFactor(name: 'totp'): SecondFactor | undefined {
    return name === 'totp' ? this.totp : undefined;
  }

  private readonly totp = new TotpFactor({
    users: () => this.d.users(),
    onOutcome: ({ user, outcome, detail }) => {
      // Each refusal is logged with its reason (a replayed code is worth an admin's look).
      if (outcome === 'accepted') this.d.log.debug({ user }, 'TOTP code accepted');
      else if (outcome === 'error') this.d.log.error({ user, detail }, 'TOTP check failed');
      else this.d.log.warn({ user, reason: outcome }, outcome === 'replay' ? 'TOTP code replayed: refused' : 'TOTP code refused');
    },
  });

  /** tls.cert-user / tls.cert-group (client-cert.ts certIdentity: one valid user name, every group value). */
  private certificate: CertificateIdentity = (cert) => {
    const tls = this.d.config().tls;
    return certIdentity(cert, tls.certUser, tls.certGroup);
  };

  /** Waits for accounting records still on their way (Stop at shutdown), then closes the methods. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pendingAcct]);
    for (const m of this.methods.values()) await m.close?.().catch(() => undefined);
  }
}
