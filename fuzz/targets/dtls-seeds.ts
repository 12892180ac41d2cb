/**
 * Deterministic DTLS endpoints for the fuzz targets, and seeds made from honest in-memory
 * handshakes: with the same options and random bytes, a recorded peer flight replays exactly,
 * so the fuzzer starts from datagrams that get deep into the state machines (and past them, into
 * protected records).
 */
import { createHash } from 'node:crypto';
import { DTLS0_9, DTLS1_2, DtlsClient, DtlsServer, SuiteId, type DtlsClientOptions, type DtlsResult, type DtlsServerOptions } from '../../src/dtls/index.js';

/** Counter-mode random bytes: the same sequence for every endpoint made with the same label. */
export function fixedRandom(label: string): (n: number) => Buffer {
  let counter = 0;
  return (n) => {
    const out = Buffer.alloc(n);
    for (let off = 0; off < n; off += 32) createHash('sha256').update(`${label}:${counter++}`).digest().copy(out, off);
    return out;
  };
}

const PSK = Buffer.alloc(32, 0x42);
const APP_ID = Buffer.alloc(32, 0xa5);
const SESSION_ID = Buffer.alloc(32, 0x5a);
const MASTER = Buffer.alloc(48, 0x17);
const COOKIE_SECRET = Buffer.alloc(32, 0x33);

/** The pairs the targets fuzz: one per handshake mode (PROTOCOL.md §6.2). */
export const VARIANTS: ReadonlyArray<{ name: string; server: () => DtlsServerOptions; client: () => DtlsClientOptions }> = [
  {
    name: 'psk',
    server: () => ({ role: 'server', mode: 'psk', psk: PSK, appId: APP_ID, randomBytes: fixedRandom('s-psk') }),
    client: () => ({ role: 'client', mode: 'psk', psk: PSK, appId: APP_ID, randomBytes: fixedRandom('c-psk') }),
  },
  {
    name: 'psk-hello-verify-ems',
    server: () => ({ role: 'server', mode: 'psk', psk: PSK, helloVerify: { secret: COOKIE_SECRET, peer: Buffer.from('10.0.0.2:1234') }, randomBytes: fixedRandom('s-hv') }),
    client: () => ({ role: 'client', mode: 'psk', psk: PSK, appId: APP_ID, appIdExtension: true, extendedMasterSecret: true, suites: [SuiteId.TLS_PSK_WITH_AES_128_CBC_SHA256, SuiteId.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256], randomBytes: fixedRandom('c-hv') }),
  },
  {
    name: 'resume-dtls12-gcm',
    server: () => ({ role: 'server', mode: 'resume', version: DTLS1_2, suite: SuiteId.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, sessionId: SESSION_ID, masterSecret: MASTER, randomBytes: fixedRandom('s-r12') }),
    client: () => ({ role: 'client', mode: 'resume', version: DTLS1_2, suite: SuiteId.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, sessionId: SESSION_ID, masterSecret: MASTER, randomBytes: fixedRandom('c-r12') }),
  },
  {
    name: 'resume-dtls09-cbc',
    server: () => ({ role: 'server', mode: 'resume', version: DTLS0_9, suite: SuiteId.TLS_RSA_WITH_AES_256_CBC_SHA, sessionId: SESSION_ID, masterSecret: MASTER, randomBytes: fixedRandom('s-r09') }),
    client: () => ({ role: 'client', mode: 'resume', version: DTLS0_9, suite: SuiteId.TLS_RSA_WITH_AES_256_CBC_SHA, sessionId: SESSION_ID, masterSecret: MASTER, randomBytes: fixedRandom('c-r09') }),
  },
];

export interface Exchange {
  /** datagrams the client sent, in order */
  toServer: Buffer[];
  /** datagrams the server sent, in order */
  toClient: Buffer[];
}

/**
 * An honest handshake, then application data both ways and a close, for VARIANTS[v]. Time
 * advances 10 ms per step like the targets' replay (fuzz/targets/dtls-endpoints.ts).
 */
export function honestExchange(v: number): Exchange {
  const { client, server, ex } = handshake(v);
  if (client.established && server.established) {
    ex.toServer.push(client.protect(Buffer.from('\x00E\x00\x00\x1cping')), client.protect(Buffer.from([0x03])));
    ex.toClient.push(server.protect(Buffer.from('\x00E\x00\x00\x1cpong')), server.protect(Buffer.from([0x04])));
    ex.toServer.push(...client.close().send);
    ex.toClient.push(...server.close().send);
  }
  return ex;
}

/** Client and server of VARIANTS[v] after an honest handshake (established unless a bug). */
export function handshake(v: number): { client: DtlsClient; server: DtlsServer; ex: Exchange } {
  const variant = VARIANTS[v]!;
  const client = new DtlsClient(variant.client());
  const server = new DtlsServer(variant.server());
  const ex: Exchange = { toServer: [], toClient: [] };
  let now = 1000;
  let pending: DtlsResult = client.start(now);
  for (let round = 0; round < 20 && pending.send.length > 0; round++) {
    const toServer = pending.send;
    ex.toServer.push(...toServer);
    const fromServer: Buffer[] = [];
    for (const d of toServer) {
      now += 10;
      fromServer.push(...server.handleDatagram(d, now).send);
    }
    ex.toClient.push(...fromServer);
    pending = { send: [], deliver: [], events: [], drops: [], timerAt: null };
    for (const d of fromServer) {
      now += 10;
      pending.send.push(...client.handleDatagram(d, now).send);
    }
  }
  return { client, server, ex };
}

/** Input format of the endpoint targets: variant byte, then (u16 length, datagram)*; length 0 = a timer tick. */
export function encodeDatagrams(variant: number, datagrams: Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from([variant])];
  for (const d of datagrams) {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(d.length);
    parts.push(len, d);
  }
  return Buffer.concat(parts);
}

export function decodeDatagrams(data: Buffer): { variant: number; datagrams: Buffer[] } {
  const variant = (data[0] ?? 0) % VARIANTS.length;
  const datagrams: Buffer[] = [];
  let off = 1;
  while (off + 2 <= data.length) {
    const len = data.readUInt16BE(off);
    off += 2;
    datagrams.push(data.subarray(off, off + len));
    off += len;
  }
  return { variant, datagrams };
}

/** Every datagram of every honest exchange, for the stateless parsers. */
export function dtlsSeedDatagrams(): Buffer[] {
  const out: Buffer[] = [];
  for (let v = 0; v < VARIANTS.length; v++) {
    const ex = honestExchange(v);
    out.push(...ex.toServer, ...ex.toClient);
  }
  return out;
}
