/**
 * RadiusMethod and RadiusAccounting against Debian's freeradius 3.2, started by the test
 * (test/helpers/freeradius.ts): accept with its attributes, reject, expired, Access-Challenge
 * answered with the State echoed, failover past a server that does not answer, every server
 * down, and accounting Start / Interim-Update / Stop read back from freeradius's detail log.
 *
 * Servers that "do not answer" are UDP sockets of this test that count what they receive and
 * never reply: the number of tries is checked, not a duration.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { after, before, test } from 'node:test';
import { hasCommand } from '../helpers/netns.js';
import { prerequisite } from '../helpers/prerequisites.js';
import { RADIUS_USERS, startFreeradius, type Freeradius } from '../helpers/freeradius.js';
import { RadiusAccounting, RadiusMethod, type AccountingSession, type RadiusLog, type TerminateCause } from '../../src/gateway/auth/radius/index.js';
import type { LoginContext } from '../../src/gateway/auth/types.js';

const skip = prerequisite('RADIUS interop tests (freeradius)', hasCommand('freeradius') ? false : 'missing program: freeradius (Debian package freeradius)');

const ctx: LoginContext = { remote: '192.0.2.10', group: 'Employees' };

class LogLines implements RadiusLog {
  readonly lines: string[] = [];
  info(_o: object, msg: string): void {
    this.lines.push(`info: ${msg}`);
  }
  warn(_o: object, msg: string): void {
    this.lines.push(`warn: ${msg}`);
  }
  debug(): void {
    // requests sent: not needed here
  }
}

/** A UDP socket that receives and never answers: a RADIUS server that is down. */
async function silentServer(t: { after(fn: () => void): void }): Promise<{ port: number; received: () => number }> {
  const s = dgram.createSocket('udp4');
  let n = 0;
  s.on('message', () => n++);
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  t.after(() => s.close());
  return { port: s.address().port, received: () => n };
}

let fr: Freeradius;

before(async () => {
  if (skip) return;
  fr = await startFreeradius();
});

after(async () => {
  await fr?.stop();
});

function method(log: RadiusLog, servers?: Array<{ host: string; port: number }>, extra: { timeout?: number; retries?: number } = {}): RadiusMethod {
  return new RadiusMethod({
    name: 'corp-radius',
    servers: servers ?? [{ host: '127.0.0.1', port: fr.authPort }],
    secret: fr.secret,
    nasIdentifier: 'sslgate-test',
    timeout: extra.timeout ?? 2,
    retries: extra.retries ?? 1,
    log,
  });
}

test('Access-Accept: groups from Class, Framed-IP, Framed-Routes, MS DNS, timeouts, Reply-Message', { skip }, async () => {
  const a = RADIUS_USERS.accept;
  const r = await method(new LogLines()).authenticate(a.user, a.password, ctx);
  assert.deepEqual(r, {
    kind: 'accept',
    groups: [...a.groups],
    message: a.message,
    attrs: {
      framedIp: a.framedIp,
      routes: [...a.routes],
      dns: [...a.dns],
      sessionTimeout: a.sessionTimeout,
      acctInterim: a.acctInterim,
      radiusClass: [Buffer.from(a.classText).toString('base64')],
    },
  });
  // freeradius saw our Message-Authenticator (the client requires it) and logged the login
  assert.match(fr.output(), new RegExp(`Login OK: \\[${a.user}\\]`));
});

test('Access-Reject: a wrong password, and a rejected user with its Reply-Message', { skip }, async () => {
  const m = method(new LogLines());
  assert.deepEqual(await m.authenticate(RADIUS_USERS.accept.user, 'wrong-password', ctx), { kind: 'reject' });
  assert.deepEqual(await m.authenticate(RADIUS_USERS.reject.user, RADIUS_USERS.reject.password, ctx), { kind: 'reject', message: RADIUS_USERS.reject.message });
});

test('a reject saying the password expired becomes "expired"', { skip }, async () => {
  const e = RADIUS_USERS.expired;
  assert.deepEqual(await method(new LogLines()).authenticate(e.user, e.password, ctx), { kind: 'expired', message: e.message, canChange: false });
});

test('Access-Challenge: the Reply-Message is the prompt, the State is echoed in the answer', { skip }, async () => {
  const c = RADIUS_USERS.challenge;
  const m = method(new LogLines());
  const first = await m.authenticate(c.user, c.password, ctx);
  assert.equal(first.kind, 'challenge');
  if (first.kind !== 'challenge') return;
  assert.equal(first.message, c.message);
  assert.deepEqual(first.state, { state: Buffer.from(c.stateHex, 'hex').toString('base64') });
  const wrong = await m.respond(c.user, first.state, '000000', ctx);
  assert.equal(wrong.kind, 'reject');
  const ok = await m.respond(c.user, first.state, c.code, ctx);
  assert.deepEqual(ok, { kind: 'accept', groups: [...c.groups], message: c.acceptMessage, attrs: { radiusClass: [Buffer.from(c.classText).toString('base64')] } });
  // without the State the code alone is refused (the server checks the State it sent)
  assert.equal((await m.respond(c.user, {}, c.code, ctx)).kind, 'reject');
});

test('failover: the first server does not answer, the second does; the log names the silent one', { skip }, async (t) => {
  const down = await silentServer(t);
  const log = new LogLines();
  const m = method(log, [{ host: '127.0.0.1', port: down.port }, { host: '127.0.0.1', port: fr.authPort }], { timeout: 1, retries: 1 });
  const r = await m.authenticate(RADIUS_USERS.accept.user, RADIUS_USERS.accept.password, ctx);
  assert.equal(r.kind, 'accept');
  assert.equal(down.received(), 2, 'one try and one retry to the silent server');
  assert.ok(
    log.lines.some((l) => l.includes(`RADIUS server 127.0.0.1:${down.port} did not answer`) && l.includes('2 tries, 1 s each')),
    log.lines.join('\n'),
  );
});

test('every server down: a clean "error" after the configured tries, logged', { skip }, async (t) => {
  const a = await silentServer(t);
  const b = await silentServer(t);
  const log = new LogLines();
  const m = method(log, [{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }], { timeout: 1, retries: 2 });
  const r = await m.authenticate(RADIUS_USERS.accept.user, RADIUS_USERS.accept.password, ctx);
  assert.deepEqual(r, { kind: 'error', message: 'The authentication server did not answer.' });
  assert.equal(a.received(), 3);
  assert.equal(b.received(), 3);
  assert.ok(log.lines.some((l) => l.includes(`no RADIUS server answered the Access-Request for ${RADIUS_USERS.accept.user}: 127.0.0.1:${a.port} (no answer), 127.0.0.1:${b.port} (no answer)`)), log.lines.join('\n'));
});

test('accounting: Start, Interim-Update and Stop reach the detail log with counters, gigawords, Class and cause', { skip }, async (t) => {
  const down = await silentServer(t);
  const log = new LogLines();
  // the first accounting server is down: every record fails over to freeradius
  const acct = new RadiusAccounting({
    servers: [{ host: '127.0.0.1', port: down.port }, { host: '127.0.0.1', port: fr.acctPort }],
    secret: fr.secret,
    nasIdentifier: 'sslgate-test',
    timeout: 1,
    retries: 0,
    log,
  });
  const classB64 = Buffer.from(RADIUS_USERS.accept.classText).toString('base64');
  const session = (id: string, n: number): AccountingSession => ({
    sessionId: id,
    user: RADIUS_USERS.accept.user,
    remote: '192.0.2.10',
    framedIp: '192.168.77.10',
    radiusClass: [classB64],
    sessionTime: 10 * n,
    inOctets: (5n << 32n) + BigInt(1000 * n),
    outOctets: 2000 * n,
    inPackets: 10 * n,
    outPackets: 20 * n,
  });
  assert.equal(await acct.start(session('sess-1', 0)), true);
  assert.equal(await acct.interim(session('sess-1', 1)), true);
  assert.equal(await acct.stop(session('sess-1', 2), 'idle-timeout'), true);
  const causes: Array<[TerminateCause, string]> = [
    ['user-request', 'User-Request'],
    ['lost-carrier', 'Lost-Carrier'],
    ['session-timeout', 'Session-Timeout'],
    ['admin-reset', 'Admin-Reset'],
    ['nas-request', 'NAS-Request'],
  ];
  for (const [cause] of causes) assert.equal(await acct.stop(session(`sess-${cause}`, 1), cause), true);
  assert.equal(down.received(), 3 + causes.length, 'each record tried the silent server once first');

  const records = fr.accountingRecords().filter((r) => r.attrs.get('Acct-Session-Id')?.[0] === 'sess-1');
  const one = (i: number, name: string): string | undefined => records[i]?.attrs.get(name)?.[0];
  assert.deepEqual(records.map((r) => r.attrs.get('Acct-Status-Type')?.[0]), ['Start', 'Interim-Update', 'Stop']);
  for (let i = 0; i < 3; i++) {
    assert.equal(one(i, 'User-Name'), RADIUS_USERS.accept.user);
    assert.equal(one(i, 'Framed-IP-Address'), '192.168.77.10');
    assert.equal(one(i, 'Calling-Station-Id'), '192.0.2.10');
    assert.equal(one(i, 'NAS-Identifier'), 'sslgate-test');
    assert.equal(one(i, 'NAS-Port-Type'), 'Virtual');
    assert.equal(one(i, 'Class'), '0x' + Buffer.from(RADIUS_USERS.accept.classText).toString('hex'));
  }
  assert.equal(one(1, 'Acct-Input-Octets'), '1000');
  assert.equal(one(1, 'Acct-Input-Gigawords'), '5');
  assert.equal(one(1, 'Acct-Output-Octets'), '2000');
  assert.equal(one(2, 'Acct-Input-Octets'), '2000');
  assert.equal(one(2, 'Acct-Output-Octets'), '4000');
  assert.equal(one(2, 'Acct-Output-Gigawords'), '0');
  assert.equal(one(2, 'Acct-Session-Time'), '20');
  assert.equal(one(2, 'Acct-Input-Packets'), '20');
  assert.equal(one(2, 'Acct-Terminate-Cause'), 'Idle-Timeout');
  for (const [cause, name] of causes) {
    const stop = fr.accountingRecords().find((r) => r.attrs.get('Acct-Session-Id')?.[0] === `sess-${cause}`);
    assert.equal(stop?.attrs.get('Acct-Terminate-Cause')?.[0], name, cause);
  }
});

test('accounting with every server down: false and a log line, never a throw', { skip }, async (t) => {
  const down = await silentServer(t);
  const log = new LogLines();
  const acct = new RadiusAccounting({ servers: [{ host: '127.0.0.1', port: down.port }], secret: fr.secret, timeout: 1, retries: 1, log });
  const ok = await acct.stop({ sessionId: 'lost', user: 'u', remote: '192.0.2.1', sessionTime: 1, inOctets: 1, outOctets: 1, inPackets: 1, outPackets: 1 }, 'admin-reset');
  assert.equal(ok, false);
  assert.equal(down.received(), 2);
  assert.ok(log.lines.some((l) => l.includes('RADIUS accounting Stop lost')), log.lines.join('\n'));
});
