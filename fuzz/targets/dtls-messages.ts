/**
 * DTLS wire parsers (src/dtls): record headers, handshake fragments, every handshake message
 * parser, alerts, the gateway's stateless ClientHello peek, and fragment reassembly. Documented
 * contract: bounds-checked, limits enforced, null on malformation, never a throw. What parses
 * also re-encodes to the same bytes where an encoder exists.
 */
import { Limits, encodeClientHello, encodeHelloVerifyRequest, encodePskIdentity, encodeServerHello, parseAlert, parseClientHello, parseFinished, parseHandshakeFragments, parseHelloVerifyRequest, parsePskIdentity, parseServerHello } from '../../src/dtls/messages.js';
import { peekClientHello } from '../../src/dtls/peek.js';
import { HandshakeReassembler, type HandshakeMessage } from '../../src/dtls/reassembly.js';
import { newRecordHeader, readRecordHeader, RECORD_OVERSIZED, RECORD_TRUNCATED } from '../../src/dtls/record.js';
import { check, type FuzzTarget } from './target.js';
import { dtlsSeedDatagrams } from './dtls-seeds.js';

const DICT = ['\x16\xfe\xfd\x00\x00', '\x16\xfe\xff', '\x16\x01\x00', '\x14', '\x15', '\x17', '\x01\x00\x00', '\x02\x00\x00', '\x03\x00\x00', '\x10\x00\x00', '\x14\x00\x00', '\x0c\x00\x00', '\x0e\x00\x00\x00', '\xfe\xfd', '\x00\xa9', '\xcc\xab', '\x00\x35', '\xbb\x92', '\x00\x17\x00\x00', '\x01\x00', '\x20'];

function parseAll(body: Buffer): void {
  const ch = parseClientHello(body);
  if (ch) {
    check(ch.sessionId.length <= 32 && ch.cookie.length <= Limits.maxCookie && ch.cipherSuites.length <= Limits.maxCipherSuites, 'ClientHello limits');
    check((ch.extensions?.length ?? 0) <= Limits.maxExtensions, 'too many extensions');
    if (ch.compressionMethods.length === 1 && ch.compressionMethods[0] === 0) {
      check(encodeClientHello(ch).equals(body), 'ClientHello does not re-encode to its bytes');
    }
  }
  const sh = parseServerHello(body);
  if (sh && sh.compressionMethod === 0) check(encodeServerHello(sh).equals(body), 'ServerHello does not re-encode to its bytes');
  const hvr = parseHelloVerifyRequest(body);
  if (hvr) check(encodeHelloVerifyRequest(hvr).equals(body), 'HelloVerifyRequest does not re-encode');
  const id = parsePskIdentity(body);
  if (id) check(id.length <= Limits.maxPskIdentity && encodePskIdentity(id).equals(body), 'PSK identity');
  parseFinished(body);
  parseAlert(body);
}

export const dtlsMessages: FuzzTarget = {
  name: 'dtls-messages',
  description: 'DTLS record headers, handshake fragments, every message parser, ClientHello peek, reassembly',
  maxLen: 2048,
  covers: ['/dist/src/dtls/messages', '/dist/src/dtls/peek', '/dist/src/dtls/record.js', '/dist/src/dtls/reassembly', '/dist/src/dtls/bytes'],
  dictionary: DICT,
  seeds: () => dtlsSeedDatagrams(),
  run(data) {
    const peek = peekClientHello(data);
    if (peek) check(peek.sessionId.length <= 32 && (peek.appIdExtension?.length ?? 0) <= 32, 'peek: id longer than 32 bytes');
    // Records in the datagram, as record-layer.ts walks them.
    const h = newRecordHeader();
    const reasm = new HandshakeReassembler();
    reasm.loose = (data[0] ?? 0) & 1 ? true : false;
    const out: HandshakeMessage[] = [];
    let off = 0;
    for (let guard = 0; off < data.length; guard++) {
      check(guard <= data.length, 'record walk does not advance');
      const end = readRecordHeader(data, off, h);
      if (end === RECORD_TRUNCATED) break;
      check(end === RECORD_OVERSIZED || end > off, `record end ${end} does not advance from ${off}`);
      if (end === RECORD_OVERSIZED) break;
      const frag = data.subarray(h.fragmentOffset, h.fragmentOffset + h.fragmentLength);
      parseAll(frag);
      const frags = parseHandshakeFragments(frag);
      for (const f of frags ?? []) {
        check(f.fragmentOffset + f.data.length <= f.length && f.length <= Limits.maxHandshakeMessage, 'fragment outside its message');
        const before = reasm.nextSeq;
        const loose = reasm.loose; // loose mode may restart the numbering (client waiting for ServerHello)
        reasm.push(f, out);
        check(loose || reasm.nextSeq >= before, 'reassembly went backwards');
        parseAll(f.data);
      }
      off = end;
    }
    let seq = -1;
    const strict = !((data[0] ?? 0) & 1);
    for (const m of out) {
      check(m.body.length <= Limits.maxHandshakeMessage, 'released message over the limit');
      check(!strict || seq < 0 || m.messageSeq === seq + 1, 'messages released out of order');
      seq = m.messageSeq;
      parseAll(m.body);
    }
  },
};
