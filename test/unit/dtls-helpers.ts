/**
 * Test helpers for the DTLS unit tests: hex/byte builders, a seeded PRNG,
 * and an in-memory lossy network with a fake clock that drives a client and
 * a server endpoint through their timers.
 */
import { randomBytes } from 'node:crypto';
import {
  createResult,
  type DtlsClient,
  type DtlsEvent,
  type DtlsResult,
  type DtlsServer,
  type DropReason,
} from '../../src/dtls/index.js';

export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/[\s:|]/g, ''), 'hex');
}

/** Bytes start, start+1, ... (n of them). */
export function byteRange(start: number, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff));
}

/** Deterministic PRNG (mulberry32). */
export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** A randomBytes replacement returning the given chunks first, then real randomness. */
export function scriptedRandom(...chunks: Buffer[]): (n: number) => Buffer {
  const queue = [...chunks];
  return (n: number) => {
    const next = queue.shift();
    if (next) {
      if (next.length !== n) throw new Error(`scripted random: asked ${n} bytes, have ${next.length}`);
      return Buffer.from(next);
    }
    return randomBytes(n);
  };
}

export interface LinkOptions {
  /** Probability a datagram is lost. */
  loss?: number;
  /** Probability a datagram is delivered twice. */
  duplicate?: number;
  /** Max extra random delay (ms); > 0 reorders datagrams. */
  jitterMs?: number;
  /** Base one-way delay (ms). */
  delayMs?: number;
  /** Deterministic seed. */
  seed?: number;
  /** Drop every datagram for the first n sent in each direction (forces retransmissions). */
  dropFirst?: number;
}

interface InFlight {
  at: number;
  order: number;
  to: 'client' | 'server';
  data: Buffer;
}

/**
 * Runs a client and a server over a simulated link until both are
 * established (or one failed, or the time limit passed). Also records
 * everything for assertions.
 */
export class Sim {
  now = 1_000_000;
  readonly clientEvents: DtlsEvent[] = [];
  readonly serverEvents: DtlsEvent[] = [];
  readonly clientDrops: DropReason[] = [];
  readonly serverDrops: DropReason[] = [];
  readonly clientDelivered: Buffer[] = [];
  readonly serverDelivered: Buffer[] = [];
  /** Datagrams handed to the link per direction (before loss). */
  readonly sent = { client: [] as Buffer[], server: [] as Buffer[] };
  private queue: InFlight[] = [];
  private order = 0;
  private clientTimer: number | null = null;
  private serverTimer: number | null = null;
  private readonly prng: Prng;
  private readonly sentCount = { client: 0, server: 0 };

  constructor(
    readonly client: DtlsClient,
    readonly server: DtlsServer,
    private readonly link: LinkOptions = {},
  ) {
    this.prng = new Prng(link.seed ?? 1);
  }

  private absorb(from: 'client' | 'server', r: DtlsResult): void {
    const to = from === 'client' ? 'server' : 'client';
    for (const d of r.send) {
      this.sent[from].push(d);
      this.transmit(from, to, d);
    }
    if (from === 'client') {
      this.clientEvents.push(...r.events);
      this.clientDrops.push(...r.drops);
      this.clientDelivered.push(...r.deliver.map((b) => Buffer.from(b)));
      this.clientTimer = r.timerAt;
    } else {
      this.serverEvents.push(...r.events);
      this.serverDrops.push(...r.drops);
      this.serverDelivered.push(...r.deliver.map((b) => Buffer.from(b)));
      this.serverTimer = r.timerAt;
    }
  }

  /** Put a datagram on the wire subject to loss/duplication/jitter. */
  transmit(from: 'client' | 'server', to: 'client' | 'server', d: Buffer): void {
    const n = this.sentCount[from]++;
    if (this.link.dropFirst !== undefined && n < this.link.dropFirst) return;
    if (this.prng.next() < (this.link.loss ?? 0)) return;
    const copies = this.prng.next() < (this.link.duplicate ?? 0) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const at = this.now + (this.link.delayMs ?? 5) + this.prng.int((this.link.jitterMs ?? 0) + 1);
      this.queue.push({ at, order: this.order++, to, data: Buffer.from(d) });
    }
  }

  start(): void {
    this.absorb('client', this.client.start(this.now));
  }

  /** Advance to the next event; false when nothing is pending. */
  step(): boolean {
    let next = Infinity;
    for (const q of this.queue) next = Math.min(next, q.at);
    if (this.clientTimer !== null) next = Math.min(next, this.clientTimer);
    if (this.serverTimer !== null) next = Math.min(next, this.serverTimer);
    if (next === Infinity) return false;
    this.now = Math.max(this.now, next);
    const due = this.queue.filter((q) => q.at <= this.now).sort((a, b) => a.at - b.at || a.order - b.order);
    this.queue = this.queue.filter((q) => q.at > this.now);
    for (const q of due) {
      if (q.to === 'client') this.absorb('client', this.client.handleDatagram(q.data, this.now));
      else this.absorb('server', this.server.handleDatagram(q.data, this.now));
    }
    if (this.clientTimer !== null && this.clientTimer <= this.now) {
      this.absorb('client', this.client.onTimer(this.now));
    }
    if (this.serverTimer !== null && this.serverTimer <= this.now) {
      this.absorb('server', this.server.onTimer(this.now));
    }
    return true;
  }

  /** Run until both sides are established (or failed), nothing is pending, or `limitMs` passes. */
  run(limitMs = 200_000): void {
    const end = this.now + limitMs;
    while (this.now < end) {
      const done =
        (this.client.established || this.client.status === 'failed') &&
        (this.server.established || this.server.status === 'failed');
      if (done && this.queue.length === 0) return;
      if (!this.step()) return;
    }
  }

  /** Datagrams still on the wire. */
  get inFlight(): number {
    return this.queue.length;
  }

  /** Let in-flight datagrams land; bounded so a retransmission ping-pong fails loudly. */
  drain(maxSteps = 10_000): void {
    for (let i = 0; i < maxSteps && this.queue.length > 0; i++) this.step();
    if (this.queue.length > 0) throw new Error('network never went quiet (retransmission loop?)');
  }

  send(from: 'client' | 'server', payload: Buffer): void {
    const ep = from === 'client' ? this.client : this.server;
    const r = createResult();
    r.send.push(ep.protect(payload));
    this.absorb(from, r);
  }
}
