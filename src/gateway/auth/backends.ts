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
import { checkerMethod } from './password-checker.js';
import type { ClientCertInfo, PasswordMethod } from './types.js';

export interface Accounting {
  report(event: AcctEvent, record: AcctRecord, cause?: AcctCause): void;
  close?(): Promise<void>;
}

export interface BackendsDeps {
  config: () => GatewayConfig;
  users: () => UserStore;
  log: Logger;
}

/** Default certificate mapping: the user from CN, no groups (tls.cert-user / cert-group refine it). */
export function subjectIdentity(cert: ClientCertInfo, userField = 'CN', groupField?: string): { user: string; groups?: string[] } | { error: string } {
  const user = cert.subject[userField]?.[0];
  if (!user) return { error: `The certificate has no ${userField} to take the user name from.` };
  const groups = groupField ? cert.subject[groupField] : undefined;
  return groups && groups.length ? { user, groups } : { user };
}

export class AuthBackends {
  readonly engine: AuthEngine;
  private methods = new Map<string, PasswordMethod>();
  private accounting: Accounting | null = null;

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
    methods.set('local', checkerMethod({ verify: (u, p) => this.d.users().verify(u, p) }));
    for (const [name, s] of Object.entries(cfg.authServers)) {
      this.d.log.warn({ server: name, type: s.type }, 'auth server type not available in this build');
    }
    this.methods = methods;
    for (const m of old) void m.close?.().catch(() => undefined);
  }

  account(event: AcctEvent, record: AcctRecord, cause?: AcctCause): void {
    if (!this.accounting) {
      this.d.log.debug({ event, session: record.sessionId }, 'accounting record (no accounting server)');
      return;
    }
    this.accounting.report(event, record, cause);
  }

  private secondFactor(name: 'totp'): SecondFactor | undefined {
    void name;
    return undefined;
  }

  /** tls.cert-user / tls.cert-group (client-cert.ts certIdentity: one valid user name, every group value). */
  private certificate: CertificateIdentity = (cert) => {
    const tls = this.d.config().tls;
    const id = certIdentity(cert, tls.certUser, tls.certGroup);
    if (!id.ok) return { error: id.error };
    return id.groups ? { user: id.user, groups: id.groups } : { user: id.user };
  };

  async close(): Promise<void> {
    for (const m of this.methods.values()) await m.close?.().catch(() => undefined);
    await this.accounting?.close?.().catch(() => undefined);
  }
}
