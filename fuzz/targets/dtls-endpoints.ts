/**
 * The DTLS state machines (src/dtls/server.ts, client.ts) driven by fuzzed datagrams: a server
 * as the gateway runs it, and a client after start(). Contract (src/dtls/index.ts):
 * handleDatagram/onTimer never throw on network input; problems are drops or a 'failed' event.
 * Seeds are honest exchanges (dtls-seeds.ts), so mutations reach the later flights and the
 * protected records too.
 */
import { DtlsClient, DtlsServer, type DtlsResult } from '../../src/dtls/index.js';
import { decodeDatagrams, encodeDatagrams, honestExchange, VARIANTS } from './dtls-seeds.js';
import { check, type FuzzTarget } from './target.js';

const MAX_DATAGRAM = 1400; // CommonOptions.maxDatagramSize default

function checkResult(r: DtlsResult, established: boolean, now: number): void {
  for (const d of r.send) check(d.length > 0 && d.length <= MAX_DATAGRAM, `sent a datagram of ${d.length} bytes`);
  if (r.deliver.length > 0) check(established, 'delivered application data before the handshake finished');
  check(r.timerAt === null || (Number.isFinite(r.timerAt) && r.timerAt >= now - 1), `timerAt ${r.timerAt} at ${now}`);
  check(r.events.filter((e) => e.type === 'established').length <= 1, 'established twice in one call');
}

function drive(ep: DtlsServer | DtlsClient, datagrams: Buffer[], start: number): void {
  let now = start;
  for (const d of datagrams) {
    now += 10;
    let r: DtlsResult;
    if (d.length === 0) {
      const at = ep.timerAt;
      if (at !== null) now = Math.max(now, at);
      r = ep.onTimer(now);
    } else {
      r = ep.handleDatagram(d, now);
    }
    checkResult(r, ep.established, now);
  }
}

const DICT = ['\x00\x00', '\x16\xfe\xfd\x00\x00', '\x16\xfe\xff\x00\x00', '\x16\x01\x00\x00\x00', '\x14\xfe\xfd\x00\x01', '\x17\xfe\xfd\x00\x01', '\x15\xfe\xfd', '\x00\x01\x00\x00\x00\x00\x00\x00', '\x01\x00\x00', '\x10\x00\x00', '\x14\x00\x00\x0c'];

export const dtlsServer: FuzzTarget = {
  name: 'dtls-server',
  description: 'DtlsServer state machine (PSK, PSK + HelloVerify, resume 1.2 and 0.9) fed fuzzed datagrams and timer ticks',
  maxLen: 4096,
  covers: ['/dist/src/dtls/'],
  dictionary: DICT,
  seeds: () => VARIANTS.map((_, v) => encodeDatagrams(v, honestExchange(v).toServer)),
  run(data) {
    const { variant, datagrams } = decodeDatagrams(data);
    drive(new DtlsServer(VARIANTS[variant]!.server()), datagrams, 1000);
  },
};

export const dtlsClient: FuzzTarget = {
  name: 'dtls-client',
  description: 'DtlsClient state machine after start() fed fuzzed server datagrams and timer ticks',
  maxLen: 4096,
  covers: ['/dist/src/dtls/'],
  dictionary: DICT,
  seeds: () => VARIANTS.map((_, v) => encodeDatagrams(v, honestExchange(v).toClient)),
  run(data) {
    const { variant, datagrams } = decodeDatagrams(data);
    const client = new DtlsClient(VARIANTS[variant]!.client());
    checkResult(client.start(1000), false, 1000);
    drive(client, datagrams, 1000);
  },
};
