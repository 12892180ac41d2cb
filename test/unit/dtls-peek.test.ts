/**
 * Stateless ClientHello peeking (PROTOCOL.md §6.8) and the CONNECT-header
 * cipher name map (§4.1, §6.2).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  DTLS0_9,
  DTLS1_2,
  DtlsClient,
  SuiteId,
  lookupDtlsCipherName,
  parseDtlsCipherHeader,
  peekClientHello,
  peekClientHelloSessionId,
  supportedDtlsCipherNames,
} from '../../src/dtls/index.js';
import { Prng } from './dtls-helpers.js';

function pskHello(appIdExtension: boolean, appId = randomBytes(32)): Buffer {
  const c = new DtlsClient({ role: 'client', mode: 'psk', psk: randomBytes(32), appId, appIdExtension });
  return c.start(0).send[0]!;
}

test('peek: session id of our own ClientHellos, every mode', () => {
  const appId = randomBytes(32);
  assert.deepEqual(peekClientHelloSessionId(pskHello(false, appId)), appId);
  for (const version of [DTLS0_9, DTLS1_2] as const) {
    const sessionId = randomBytes(32);
    const c = new DtlsClient({
      role: 'client',
      mode: 'resume',
      version,
      suite: SuiteId.TLS_RSA_WITH_AES_128_CBC_SHA,
      sessionId,
      masterSecret: randomBytes(48),
    });
    const p = peekClientHello(c.start(0).send[0]!);
    assert.deepEqual(p?.sessionId, sessionId);
    assert.equal(p?.helloVersion, version);
  }
});

test('peek: App-ID extension 48018 wins over the session id (ocserv order)', () => {
  const appId = randomBytes(32);
  const d = pskHello(true, appId);
  const p = peekClientHello(d);
  assert.deepEqual(p?.appIdExtension, appId);
  assert.deepEqual(p?.lookupId, appId);
  // Make the session id differ: the extension still decides.
  const m = Buffer.from(d);
  m[60]! ^= 0xff;
  assert.deepEqual(peekClientHelloSessionId(m), appId);
});

test('peek: refuses non-ClientHello, wrong versions, epoch ≠ 0, zero random, empty id, truncation', () => {
  const d = pskHello(false);
  const mutate = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(d);
    f(b);
    return b;
  };
  assert.equal(peekClientHello(mutate((b) => (b[0] = 23))), null);
  assert.equal(peekClientHello(mutate((b) => b.writeUInt16BE(0x0303, 1))), null);
  assert.equal(peekClientHello(mutate((b) => b.writeUInt16BE(1, 3))), null);
  assert.equal(peekClientHello(mutate((b) => (b[13] = 2))), null);
  assert.equal(peekClientHello(mutate((b) => b.writeUInt16BE(0x0303, 25))), null);
  assert.equal(peekClientHello(mutate((b) => b.fill(0, 27, 59))), null, 'all-zero random (buggy GnuTLS)');
  assert.equal(peekClientHello(mutate((b) => b.writeUIntBE(5, 19, 3))), null, 'not the first fragment');
  for (let n = 0; n < d.length; n++) {
    const p = peekClientHello(d.subarray(0, n));
    if (n < 60 + 32) assert.equal(p?.lookupId ?? null, null, `truncated at ${n}`);
  }
  // Empty session id and no extension: nothing to look up.
  const c = new DtlsClient({ role: 'client', mode: 'psk', psk: randomBytes(32), appId: Buffer.alloc(0) });
  assert.equal(peekClientHelloSessionId(c.start(0).send[0]!), null);
});

test('peek: 20000 random and mutated inputs never throw', () => {
  const prng = new Prng(4242);
  const base = pskHello(true);
  for (let i = 0; i < 20000; i++) {
    let b: Buffer;
    if (i % 2 === 0) {
      b = prng.bytes(prng.int(200));
    } else {
      b = Buffer.from(base.subarray(0, prng.int(base.length + 1)));
      for (let k = 0; k < 3; k++) if (b.length) b[prng.int(b.length)] = prng.int(256);
    }
    const p = peekClientHello(b);
    if (p) assert.ok(p.sessionId.length <= 32);
  }
});

test('names: X-DTLS-CipherSuite vs X-DTLS12-CipherSuite decide the version', () => {
  assert.deepEqual(lookupDtlsCipherName('X-DTLS-CipherSuite', 'AES128-SHA'), {
    mode: 'resume',
    name: 'AES128-SHA',
    version: DTLS0_9,
    suite: 0x002f,
  });
  assert.deepEqual(lookupDtlsCipherName('X-DTLS12-CipherSuite', 'AES128-SHA'), {
    mode: 'resume',
    name: 'AES128-SHA',
    version: DTLS1_2,
    suite: 0x002f,
  });
  assert.equal(lookupDtlsCipherName('X-DTLS-CipherSuite', 'AES256-SHA')?.mode === 'resume' && 0x0035, 0x0035);
  assert.deepEqual(lookupDtlsCipherName('X-DTLS-CipherSuite', 'PSK-NEGOTIATE'), { mode: 'psk', name: 'PSK-NEGOTIATE' });
  const oc = lookupDtlsCipherName('X-DTLS-CipherSuite', 'OC-DTLS1_2-AES256-GCM');
  assert.ok(oc?.mode === 'resume' && oc.version === DTLS1_2 && oc.suite === 0x009d);
  const ecdhe = lookupDtlsCipherName('X-DTLS12-CipherSuite', 'ECDHE-RSA-AES128-GCM-SHA256');
  assert.ok(ecdhe?.mode === 'resume' && ecdhe.suite === 0xc02f);
  assert.equal(lookupDtlsCipherName('X-DTLS12-CipherSuite', 'PSK-NEGOTIATE'), null);
  assert.equal(lookupDtlsCipherName('X-DTLS-CipherSuite', 'DES-CBC-SHA'), null);
  assert.equal(lookupDtlsCipherName('X-DTLS-CipherSuite', 'ECDHE-RSA-AES128-GCM-SHA256'), null);
});

test('names: openconnect 9.01 offers (ocserv-dtls-modes.txt) parse in order, unknown names skipped', () => {
  const legacy = parseDtlsCipherHeader(
    'X-DTLS-CipherSuite',
    'PSK-NEGOTIATE:OC-DTLS1_2-AES256-GCM:OC2-DTLS1_2-CHACHA20-POLY1305:OC-DTLS1_2-AES128-GCM:DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:AES256-SHA:AES128-SHA:FOO-BAR',
  );
  assert.deepEqual(
    legacy.map((s) => s.name),
    ['PSK-NEGOTIATE', 'OC-DTLS1_2-AES256-GCM', 'OC2-DTLS1_2-CHACHA20-POLY1305', 'OC-DTLS1_2-AES128-GCM',
      'DHE-RSA-AES256-SHA', 'DHE-RSA-AES128-SHA', 'AES256-SHA', 'AES128-SHA'],
  );
  const d12 = parseDtlsCipherHeader(
    'X-DTLS12-CipherSuite',
    'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-GCM-SHA256:DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:AES256-SHA:AES128-SHA',
  );
  assert.deepEqual(
    d12.map((s) => (s.mode === 'resume' ? s.suite : -1)),
    [0xc030, 0xc02f, 0x009d, 0x009c, 0x0039, 0x0033, 0x0035, 0x002f],
  );
  assert.ok(d12.every((s) => s.mode === 'resume' && s.version === DTLS1_2));
  assert.ok(supportedDtlsCipherNames('X-DTLS-CipherSuite').includes('DES-CBC3-SHA'));
});
