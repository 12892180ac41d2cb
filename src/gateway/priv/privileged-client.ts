/**
 * The network process's side of the privileged channel: PrivilegedOps as requests. Answers are
 * checked lightly (the privileged process is trusted; a malformed answer is a bug, reported as
 * an error of that request).
 */
import { formatCidr, type Ipv4Cidr } from '../../protocol/ipv4.js';
import type { GatewayConfig } from '../config.js';
import type { PrivilegedOps } from '../gateway.js';
import type { ServedProfile } from '../http-connection.js';
import type { ClientCaFiles } from '../tls-client-ca.js';
import type { Channel, Requests } from './channel.js';
import type { AuthAnswer, AuthOutcome, AuthStart } from '../auth/types.js';
import type { AcctCause, AcctEvent, AcctRecord } from '../auth/accounting-record.js';
import type { NetworkMessage, PrivilegedMessage, ProfileWire } from './messages.js';

type Answer = Extract<PrivilegedMessage, { id: number }>;

export function profileFromWire(p: ProfileWire | null): ServedProfile | null {
  return p ? { uri: p.uri, sha1: p.sha1, content: Buffer.from(p.content, 'base64') } : null;
}

export class PrivilegedClient implements PrivilegedOps {
  constructor(
    private readonly channel: Channel<PrivilegedMessage, NetworkMessage>,
    private readonly requests: Requests<Answer>,
  ) {}

  async start(req: AuthStart): Promise<AuthOutcome> {
    const a = await this.requests.ask((id) => this.channel.send({ t: 'auth-start', id, req }));
    if (a.t !== 'auth-outcome') throw new Error(`unexpected answer ${a.t} to auth-start`);
    return a.outcome;
  }

  async answer(req: AuthAnswer): Promise<AuthOutcome> {
    const a = await this.requests.ask((id) => this.channel.send({ t: 'auth-answer', id, req }));
    if (a.t !== 'auth-outcome') throw new Error(`unexpected answer ${a.t} to auth-answer`);
    return a.outcome;
  }

  account(event: AcctEvent, record: AcctRecord, cause?: AcctCause): void {
    this.channel.send(cause ? { t: 'acct', event, record, cause } : { t: 'acct', event, record });
  }

  restart(): void {
    this.channel.send({ t: 'restart' });
  }

  async readConfig(): Promise<{ config: GatewayConfig; profile: ServedProfile | null; users: number; clientCa?: ClientCaFiles | null }> {
    const a = await this.requests.ask((id) => this.channel.send({ t: 'reload-read', id }));
    if (a.t === 'reload-failed') throw new Error(a.error);
    if (a.t !== 'reload-config') throw new Error(`unexpected answer ${a.t} to reload-read`);
    return { config: a.config as GatewayConfig, profile: profileFromWire(a.profile), users: a.users, ...(a.clientCa !== undefined ? { clientCa: a.clientCa } : {}) };
  }

  async addSubnets(cidrs: Ipv4Cidr[]): Promise<void> {
    const a = await this.requests.ask((id) => this.channel.send({ t: 'reload-subnets', id, cidrs: cidrs.map(formatCidr) }));
    if (a.t !== 'reload-done' && a.t !== 'reload-failed') throw new Error(`unexpected answer ${a.t} to reload-subnets`);
    if (!a.ok) throw new Error(a.error ?? 'adding the pool subnets failed');
  }

  async commitReload(): Promise<void> {
    const a = await this.requests.ask((id) => this.channel.send({ t: 'reload-commit', id }));
    if (a.t !== 'reload-done' && a.t !== 'reload-failed') throw new Error(`unexpected answer ${a.t} to reload-commit`);
    if (!a.ok) throw new Error(a.error ?? 'reload commit failed');
  }
}
