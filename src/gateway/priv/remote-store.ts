/**
 * The StateStore as the network process sees it: each call is a `state-*` request to the
 * privileged process, which owns the real store (SQLite, Redis). Answers are checked lightly
 * (the privileged process is trusted); a failed request rejects with the store's error.
 */
import type { BanRecord, PoolRef, SessionRecord, StateStore } from '../state/types.js';
import type { Channel, Requests } from './channel.js';
import type { NetworkMessage, PrivilegedMessage } from './messages.js';
import type { StateRequest } from './state-messages.js';

type Answer = Extract<PrivilegedMessage, { id: number }>;
/** A request without its id (Omit over the union, member by member). */
type Body = StateRequest extends infer R ? (R extends StateRequest ? Omit<R, 'id'> : never) : never;

export class RemoteStore implements StateStore {
  constructor(
    readonly kind: StateStore['kind'],
    private readonly channel: Channel<PrivilegedMessage, NetworkMessage>,
    private readonly requests: Requests<Answer>,
  ) {}

  private async ask<T>(body: Body): Promise<T> {
    const a = await this.requests.ask((id) => this.channel.send({ ...body, id } as StateRequest));
    if (a.t !== 'state-result') throw new Error(`unexpected answer ${a.t} to ${body.t}`);
    if (!a.ok) throw new Error(a.error);
    return a.value as T;
  }

  nextSessionId(): Promise<number> {
    return this.ask<number>({ t: 'state-next-id' });
  }

  async putSession(record: SessionRecord): Promise<void> {
    await this.ask({ t: 'state-put', record });
  }

  async getSession(cookieHash: string): Promise<SessionRecord | null> {
    return (await this.ask<SessionRecord | null | undefined>({ t: 'state-get', cookieHash })) ?? null;
  }

  async deleteSession(cookieHash: string): Promise<void> {
    await this.ask({ t: 'state-delete', cookieHash });
  }

  listSessions(): Promise<SessionRecord[]> {
    return this.ask<SessionRecord[]>({ t: 'state-list' });
  }

  async lease(pool: PoolRef, holder: string, hint?: number): Promise<number | null> {
    return (await this.ask<number | null | undefined>(hint === undefined ? { t: 'state-lease', pool, holder } : { t: 'state-lease', pool, holder, hint })) ?? null;
  }

  async release(pool: PoolRef, holder: string): Promise<void> {
    await this.ask({ t: 'state-release', pool, holder });
  }

  async putBan(ban: BanRecord): Promise<void> {
    await this.ask({ t: 'state-ban', ban });
  }

  async deleteBan(kind: BanRecord['kind'], key: string): Promise<void> {
    await this.ask({ t: 'state-unban', kind, key });
  }

  listBans(): Promise<BanRecord[]> {
    return this.ask<BanRecord[]>({ t: 'state-bans' });
  }

  /** The privileged process owns the store: nothing to close here. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
