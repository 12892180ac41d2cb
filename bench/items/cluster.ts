/**
 * Issue 12's row: what sharing sessions through Redis costs. Two measurements, cluster on vs off:
 *
 *   logins     login + CONNECT + DISCONNECT back to back (the handshake item's load generator,
 *              `rateConcurrency` in parallel) against our gateway with `cluster:` (a one-node
 *              cluster, redis-server in the gateway's namespace) and without it (the one-machine
 *              store). Every login writes a session, takes an id and a lease, and the
 *              DISCONNECT deletes them: the store is on the login path, not the data path.
 *   lookups    session look-ups by cookie hash (StateStore.getSession, what a node does for a
 *              cookie it has not seen: after a restart, a failover, a login at another node),
 *              64 in flight for `rateSeconds`, on RedisStore vs the one-machine store (SQLite),
 *              in this process against 10,000 stored sessions.
 *
 * Ours = cluster on, reference = cluster off: the ratio is the fraction of the one-machine rate a
 * cluster keeps. No goal: the issue asks for the numbers.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext } from '../context.js';
import { BENCH_USER } from '../context.js';
import { failed, newSide, type Row, type Side } from '../lib/results.js';
import { LoadGen } from '../loadgen/driver.js';
import { startLab, type Lab } from '../peers/lab.js';
import { parseIpv4 } from '../../src/protocol/ipv4.js';
import { RedisStore } from '../../src/gateway/state/redis-store.js';
import { SqliteStore } from '../../src/gateway/state/sqlite-store.js';
import type { SessionRecord, StateStore } from '../../src/gateway/state/types.js';
import { startRedis, type RedisServer } from '../../test/helpers/redis.js';
import { LOADGEN_UA } from './sessions.js';

const LOOKUP_SESSIONS = 10_000;
const LOOKUP_CONCURRENCY = 64;

function record(i: number): SessionRecord {
  const now = Date.now();
  return {
    cookieHash: randomBytes(32).toString('hex'),
    id: i + 1,
    user: `user${i % 500}`,
    group: 'Employees',
    remote: '192.0.2.10',
    userAgent: 'Open AnyConnect VPN Agent v9.01',
    createdAt: now,
    limits: { idleTimeout: 1800, sessionTimeout: null },
    attrs: {},
    methods: ['local'],
    loginMessages: [],
    address: 0x0a000000 + i,
    node: 'gw1',
    disconnectedAt: null,
    lastActivity: now,
    rxBytes: 0,
    txBytes: 0,
    rxPackets: 0,
    txPackets: 0,
  };
}

/** getSession of random stored hashes, `LOOKUP_CONCURRENCY` in flight, for `seconds`. */
async function lookups(store: StateStore, hashes: string[], seconds: number): Promise<{ perSecond: number; done: number }> {
  let done = 0;
  let k = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const r = await store.getSession(hashes[(k++ * 7919) % hashes.length]!);
      if (!r) throw new Error('a stored session was not found');
      done++;
    }
  };
  await Promise.all(Array.from({ length: LOOKUP_CONCURRENCY }, worker));
  return { done, perSecond: done / ((performance.now() - t0) / 1000) };
}

async function lookupRows(ctx: BenchContext, on: Side, off: Side): Promise<void> {
  let redis: RedisServer | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'sslgate-bench-store-'));
  const stores: Array<[Side, StateStore]> = [];
  try {
    redis = await startRedis();
    stores.push([on, await RedisStore.open({ url: redis.url, node: 'gw1', reconnectWindowMs: 300_000 })]);
    stores.push([off, new SqliteStore(join(dir, 'sessions.db'))]);
    const recs = Array.from({ length: ctx.opts.quick ? 1000 : LOOKUP_SESSIONS }, (_, i) => record(i));
    for (const [, s] of stores) for (const r of recs) await s.putSession(r);
    const hashes = recs.map((r) => r.cookieHash);
    for (let run = 0; run < ctx.opts.runs; run++) {
      for (const [side, store] of run % 2 ? [...stores].reverse() : stores) {
        try {
          side.samples.push(
            await ctx.sample(`lookups ${side.label} run ${run + 1}`, async () => {
              const r = await lookups(store, hashes, ctx.opts.rateSeconds);
              return { value: r.perSecond, detail: { done: r.done, stored: recs.length, concurrency: LOOKUP_CONCURRENCY, store: store.kind } };
            }),
          );
        } catch (e) {
          failed(side, e);
        }
      }
    }
  } catch (e) {
    for (const s of [on, off]) if (s.samples.length === 0) failed(s, e);
  } finally {
    for (const [, s] of stores) await s.close().catch(() => undefined);
    await redis?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function loginRows(ctx: BenchContext, on: Side, off: Side): Promise<void> {
  const labs: Array<{ side: Side; lab?: Lab; lg?: LoadGen; redis?: RedisServer }> = [{ side: on }, { side: off }];
  try {
    for (const l of labs) {
      try {
        l.lab = await startLab(ctx, 'sslgate', {
          tag: l.side === on ? 'bclon' : 'bcloff',
          wide: true,
          maxClients: 4096,
          kdf: 'light',
          credentialCache: true,
          ...(l.side === on
            ? {
                beforeStart: async (tb) => {
                  l.redis = await startRedis({ ns: tb.gw });
                  return `cluster: { redis: "${l.redis.url}", node: bench1, address: ${tb.gwAddr} }\n`;
                },
              }
            : {}),
        });
        l.lg = await LoadGen.start(l.lab.tb.cl, {
          host: l.lab.tb.gwAddr,
          port: 443,
          user: BENCH_USER.user,
          password: BENCH_USER.password,
          group: BENCH_USER.group,
          userAgent: LOADGEN_UA,
          echoTo: parseIpv4(l.lab.login.tunAddr)!,
        });
        await l.lg.open(2, 1); // warm-up: code compiled, password remembered
        await l.lg.close();
      } catch (e) {
        failed(l.side, e);
      }
    }
    for (let run = 0; run < ctx.opts.runs; run++) {
      for (const l of run % 2 ? [...labs].reverse() : labs) {
        if (l.side.status !== 'ok' || !l.lg) continue;
        try {
          l.side.samples.push(
            await ctx.sample(`logins ${l.side.label} run ${run + 1}`, async () => {
              const r = await l.lg!.rate(ctx.opts.rateSeconds, ctx.opts.rateConcurrency);
              if (r.done === 0) throw new Error(`no login completed: ${JSON.stringify(r.errors)}`);
              return { value: r.perSecond, detail: { done: r.done, failed: r.failed, errors: r.errors, seconds: r.seconds } };
            }),
          );
        } catch (e) {
          failed(l.side, e);
        }
      }
    }
  } finally {
    for (const l of labs) {
      await l.lg?.stop();
      await l.lab?.close().catch(() => undefined);
      await l.redis?.stop('SIGKILL').catch(() => undefined);
    }
  }
}

export async function clusterItem(ctx: BenchContext): Promise<Row[]> {
  const loginsOn = newSide('sslgate, cluster (Redis)');
  const loginsOff = newSide('sslgate, one machine');
  const lookOn = newSide('RedisStore');
  const lookOff = newSide('SqliteStore');
  await loginRows(ctx, loginsOn, loginsOff);
  await lookupRows(ctx, lookOn, lookOff);
  return [
    {
      id: 'cluster-logins',
      item: 12,
      title: `logins (login + CONNECT + DISCONNECT) per second, ${ctx.opts.rateConcurrency} in parallel: cluster on vs off`,
      unit: '/s',
      ours: loginsOn,
      ref: loginsOff,
      note: 'cluster: a one-node cluster with redis-server in the gateway namespace; light KDF and credential cache on both sides so the store, not scrypt, is what differs',
    },
    {
      id: 'cluster-lookups',
      item: 12,
      title: `session look-ups by cookie hash per second (${LOOKUP_CONCURRENCY} in flight): cluster on (Redis) vs off (SQLite)`,
      unit: '/s',
      ours: lookOn,
      ref: lookOff,
    },
  ];
}
