/**
 * The network process's side of the privileged channel: PrivilegedOps as requests. Answers are
 * checked lightly (the privileged process is trusted; a malformed answer is a bug, reported as
 * an error of that request).
 */
import { formatCidr, type Ipv4Cidr } from '../../protocol/ipv4.js';
import type { GatewayConfig } from '../config.js';
import type { PrivilegedOps } from '../gateway.js';
import type { ServedProfile } from '../http-connection.js';
import type { Channel, Requests } from './channel.js';
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

  async verify(user: string, password: string): Promise<{ groups?: string[] } | null> {
    const a = await this.requests.ask((id) => this.channel.send({ t: 'auth', id, user, password }));
    if (a.t !== 'auth-result') throw new Error(`unexpected answer ${a.t} to auth`);
    if (a.error) throw new Error(`password check failed: ${a.error}`);
    if (!a.ok) return null;
    return a.groups ? { groups: a.groups } : {};
  }

  async readConfig(): Promise<{ config: GatewayConfig; profile: ServedProfile | null; users: number }> {
    const a = await this.requests.ask((id) => this.channel.send({ t: 'reload-read', id }));
    if (a.t === 'reload-failed') throw new Error(a.error);
    if (a.t !== 'reload-config') throw new Error(`unexpected answer ${a.t} to reload-read`);
    return { config: a.config as GatewayConfig, profile: profileFromWire(a.profile), users: a.users };
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
