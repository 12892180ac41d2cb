/**
 * Issue 9 §1, the parts of privilege separation that need no root: the channel's framing and
 * its validation of what the network process says (hostile input), the bounded password-check
 * queue, /proc status parsing, what `serve` reports it lacks, and the safe state-folder files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame, FrameDecoder, FrameError } from '../../src/gateway/priv/frames.js';
import { ChannelProtocolError, parseNetworkMessage } from '../../src/gateway/priv/messages.js';
import { AuthQueue } from '../../src/gateway/priv/auth-queue.js';
import { missingPrivileges } from '../../src/gateway/priv/parent.js';
import { parseProcStatus, type ProcStatus } from '../../src/os/proc-status.js';
import { ensurePrivateDir, readPrivateFile, tightenConfiguredKeyFile, UnsafePathError, writePrivateFile } from '../../src/os/safe-files.js';
import { ConfigError, parseConfigText } from '../../src/gateway/config.js';
import { seeded } from '../helpers/seed.js';

test('frames: round trip, split at every byte, several per chunk', () => {
  const msgs = [{ t: 'auth-start', id: 1, req: { group: 'g', user: 'alice', password: 'pä$$', remote: '10.0.0.2' } }, { t: 'reload-read', id: 2 }, { t: 'ready', pid: 42 }];
  const bytes = Buffer.concat(msgs.map(encodeFrame));
  for (let cut = 0; cut <= bytes.length; cut++) {
    const d = new FrameDecoder(1024);
    const out = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
    assert.deepEqual(out, msgs, `cut at ${cut}`);
    assert.equal(d.pending, 0);
  }
});

test('frames: an oversized length is refused before it is buffered; bad JSON fails the channel', () => {
  const d = new FrameDecoder(100);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(101);
  assert.throws(() => d.push(head), FrameError);
  assert.throws(() => d.push(Buffer.from('x')), /already failed/);
  const e = new FrameDecoder(100);
  const bad = Buffer.from('{nope');
  const f = Buffer.alloc(4);
  f.writeUInt32BE(bad.length);
  assert.throws(() => e.push(Buffer.concat([f, bad])), /not valid JSON/);
});

test('frames: random garbage never throws anything but FrameError and never holds more than one frame', () => {
  const rnd = seeded('priv frames garbage');
  for (let i = 0; i < 2000; i++) {
    const d = new FrameDecoder(256);
    const junk = Buffer.from(Array.from({ length: rnd.int(64) }, () => rnd.int(256)));
    try {
      d.push(junk);
      assert.ok(d.pending <= 256 + 4);
    } catch (e) {
      assert.ok(e instanceof FrameError, String(e));
    }
  }
});

test('network messages: the valid shapes pass', () => {
  const start = { t: 'auth-start', id: 3, req: { group: 'g', user: 'bob', password: 'x', remote: '10.0.0.2', cert: { subject: { CN: ['bob'], OU: ['a', 'b'] }, fingerprint: 'AB'.repeat(32), serial: '01', sanEmail: ['bob@example.org'] } } };
  assert.deepEqual(parseNetworkMessage(start), start);
  const answer = { t: 'auth-answer', id: 4, req: { handle: 'h', fields: { password: '123456' }, remote: '10.0.0.2' } };
  assert.deepEqual(parseNetworkMessage(answer), answer);
  const acct = { t: 'acct', event: 'stop', cause: 'idle-timeout', record: { sessionId: '1', user: 'bob', group: 'g', remote: 'r', sessionTime: 5, inOctets: 1, outOctets: 2, inPackets: 1, outPackets: 1 } };
  assert.deepEqual(parseNetworkMessage(acct), acct);
  assert.deepEqual(parseNetworkMessage({ t: 'reload-subnets', id: 1, cidrs: ['10.0.0.1/24'] }), { t: 'reload-subnets', id: 1, cidrs: ['10.0.0.1/24'] });
  assert.deepEqual(parseNetworkMessage({ t: 'ready', pid: 7 }), { t: 'ready', pid: 7 });
  assert.equal(parseNetworkMessage({ t: 'fatal', error: 'x'.repeat(5000) }).t, 'fatal');
});

test('network messages: everything else is a ChannelProtocolError', () => {
  const bad: unknown[] = [
    null, 1, 'auth', [], {}, { t: 'nope' }, { t: 'auth' }, { t: 'auth-start' },
    { t: 'auth-start', id: -1, req: { group: 'g', user: 'a', password: 'b', remote: 'r' } },
    { t: 'auth-start', id: 1.5, req: { group: 'g', user: 'a', password: 'b', remote: 'r' } },
    { t: 'auth-start', id: 1, req: { group: 'g', user: 'a'.repeat(300), password: 'b', remote: 'r' } },
    { t: 'auth-start', id: 1, req: { group: 'g', user: 'a', password: 'b'.repeat(2000), remote: 'r' } },
    { t: 'auth-start', id: 1, req: { group: 'g', user: 'a', password: 'b', remote: 'r', extra: 1 } },
    { t: 'auth-start', id: 1, req: { group: 'g', user: 5, password: 'b', remote: 'r' } },
    { t: 'auth-start', id: 1, req: { group: 'g', user: 'a', password: 'b', remote: 'r', cert: { subject: { CN: 'x' }, fingerprint: 'a', serial: '1' } } },
    { t: 'auth-answer', id: 1, req: { handle: 'h', fields: Object.fromEntries([...Array(9).keys()].map((i) => [`f${i}`, 'x'])), remote: 'r' } },
    { t: 'auth-answer', id: 1, req: { handle: 'h', fields: { password: 'x'.repeat(2000) }, remote: 'r' } },
    { t: 'acct', event: 'begin', record: {} },
    { t: 'acct', event: 'stop', cause: 'bored', record: { sessionId: '1', user: 'b', group: 'g', remote: 'r', sessionTime: 5, inOctets: 1, outOctets: 2, inPackets: 1, outPackets: 1 } },
    { t: 'acct', event: 'stop', record: { sessionId: '1', user: 'b', group: 'g', remote: 'r', sessionTime: -5, inOctets: 1, outOctets: 2, inPackets: 1, outPackets: 1 } },
    { t: 'reload-subnets', id: 1, cidrs: ['10.0.0.1/24; rm -rf /'] },
    { t: 'reload-subnets', id: 1, cidrs: ['300.0.0.1/24'] },
    { t: 'reload-subnets', id: 1, cidrs: ['10.0.0.1/33'] },
    { t: 'reload-subnets', id: 1, cidrs: 'x' },
    { t: 'reload-subnets', id: 1, cidrs: Array.from({ length: 300 }, () => '10.0.0.1/24') },
    { t: 'ready', pid: 0 },
    { t: 'fatal', error: 3 },
    { t: 'init' },
  ];
  for (const v of bad) assert.throws(() => parseNetworkMessage(v), ChannelProtocolError, JSON.stringify(v)?.slice(0, 80));
});

test('auth queue: at most N at once, a bounded queue, "no" beyond it, slots come back after errors', async () => {
  const q = new AuthQueue(2, 3);
  const releases: Array<() => void> = [];
  let started = 0;
  const job = (): Promise<void> => new Promise<void>((resolve) => {
    started++;
    releases.push(resolve);
  });
  for (let i = 0; i < 5; i++) assert.equal(q.run(job), true);
  assert.equal(q.run(job), false, 'the sixth is refused at once');
  assert.equal(started, 2);
  assert.deepEqual(q.size, { running: 2, waiting: 3 });
  releases.shift()!();
  await new Promise((r) => setImmediate(r));
  assert.equal(started, 3);
  assert.equal(q.run(() => Promise.reject(new Error('boom'))), true);
  while (releases.length) {
    releases.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(q.size, { running: 0, waiting: 0 });
});

const STATUS = `Name:\tnode
Uid:\t65534\t65534\t65534\t65534
Gid:\t65534\t65534\t65534\t65534
Groups:\t65534 
CapInh:\t0000000000000000
CapPrm:\t0000000000000000
CapEff:\t0000000000000000
CapBnd:\t0000000000000000
CapAmb:\t0000000000000000
NoNewPrivs:\t1
`;

test('/proc status: parsed; a file without the fields is an error', () => {
  const st = parseProcStatus(STATUS);
  assert.deepEqual(st.uid, [65534, 65534, 65534, 65534]);
  assert.deepEqual(st.groups, [65534]);
  assert.equal(st.capEff, 0n);
  assert.equal(st.noNewPrivs, true);
  assert.equal(parseProcStatus(STATUS.replace('CapEff:\t0000000000000000', 'CapEff:\t000001ffffffffff')).capEff, 0x1ffffffffffn);
  assert.throws(() => parseProcStatus('Name: x\n'), /Uid/);
  assert.throws(() => parseProcStatus(STATUS.replace(/CapEff.*\n/, '')), /CapEff/);
});

test('serve says exactly what it lacks', () => {
  const cfg = parseConfigText('listen: 0.0.0.0:443\nnetwork: {address: 10.9.0.1/24}\n', 'x', '/', null);
  const asNobody: ProcStatus = parseProcStatus(STATUS);
  const lacks = missingPrivileges(cfg, asNobody);
  assert.match(lacks[0]!, /^root \(uid 0; this is uid 65534\)/);
  for (const cap of ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP']) {
    assert.ok(lacks.some((l) => l.startsWith(`${cap}:`)), `${cap} missing from ${lacks.join(' | ')}`);
  }
  assert.ok(lacks.some((l) => /TUN device \(sslgate%d\)/.test(l)));
  assert.ok(lacks.some((l) => /bind port 443/.test(l)));
  const root = parseProcStatus(STATUS.replace(/Uid:.*\n/, 'Uid:\t0\t0\t0\t0\n').replace(/CapEff:.*\n/, 'CapEff:\t000001ffffffffff\n'));
  assert.deepEqual(missingPrivileges(cfg, root), []);
  // root in a container without CAP_NET_ADMIN (bit 12)
  const noNetAdmin = parseProcStatus(STATUS.replace(/Uid:.*\n/, 'Uid:\t0\t0\t0\t0\n').replace(/CapEff:.*\n/, `CapEff:\t${(0x1ffffffffffn & ~(1n << 12n)).toString(16)}\n`));
  assert.deepEqual(missingPrivileges(cfg, noNetAdmin).map((l) => l.split(':')[0]), ['CAP_NET_ADMIN']);
});

test('config: run-as-user / run-as-group default to nobody / nogroup, refuse root and odd names', () => {
  const c = parseConfigText('network: {address: 10.9.0.1/24}\n', 'x', '/', null);
  assert.equal(c.runAsUser, 'nobody');
  assert.equal(c.runAsGroup, 'nogroup');
  assert.equal(c.state, '/var/lib/sslgate', 'the default state folder is absolute');
  const d = parseConfigText('run-as-user: sslgate\nrun-as-group: 998\nnetwork: {address: 10.9.0.1/24}\n', 'x', '/', null);
  assert.deepEqual([d.runAsUser, d.runAsGroup], ['sslgate', '998']);
  for (const bad of ['run-as-user: root', 'run-as-user: 0', 'run-as-group: "a b"', 'run-as-user: "../x"']) {
    assert.throws(() => parseConfigText(`${bad}\nnetwork: {address: 10.9.0.1/24}\n`, 'x', '/', null), ConfigError, bad);
  }
});

test('safe files: the state folder is created 0700, a loose one tightened, a symlink or file refused', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sg-safe-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const notices: string[] = [];
  const dir = join(root, 'a', 'state');
  ensurePrivateDir(dir, (m) => notices.push(m));
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  chmodSync(dir, 0o755);
  ensurePrivateDir(dir, (m) => notices.push(m));
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.match(notices.join('\n'), /mode 0755 gave others access; tightened to 0700/);
  const link = join(root, 'link');
  symlinkSync(dir, link);
  assert.throws(() => ensurePrivateDir(link), (e: unknown) => e instanceof UnsafePathError && /symbolic link/.test(e.message));
  writeFileSync(join(root, 'file'), 'x');
  assert.throws(() => ensurePrivateDir(join(root, 'file')), /not a directory/);
  assert.throws(() => ensurePrivateDir('relative/state'), /absolute/);
});

test('safe files: written through a fresh temp file (never through a planted symlink), read without following one', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sg-safe-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const victim = join(root, 'victim');
  writeFileSync(victim, 'precious');
  const target = join(root, 'users.json');
  symlinkSync(victim, target);
  writePrivateFile(target, 'new content');
  assert.equal(readFileSync(victim, 'utf8'), 'precious', 'wrote through the symlink');
  assert.equal(readFileSync(target, 'utf8'), 'new content');
  assert.equal(statSync(target).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(root).filter((f) => f.endsWith('.tmp')), [], 'temp file left behind');

  const link2 = join(root, 'key.pem');
  symlinkSync(victim, link2);
  assert.throws(() => readPrivateFile(link2), (e: unknown) => e instanceof UnsafePathError && /symbolic link/.test(e.message));
  assert.equal(readPrivateFile(join(root, 'absent')), null);
  const loose = join(root, 'token');
  writeFileSync(loose, 'abc', { mode: 0o644 });
  chmodSync(loose, 0o644);
  const notices: string[] = [];
  assert.equal(readPrivateFile(loose, (m) => notices.push(m))!.toString(), 'abc');
  assert.equal(statSync(loose).mode & 0o777, 0o600);
  assert.equal(notices.length, 1);
  mkdirSync(join(root, 'd'));
  assert.throws(() => readPrivateFile(join(root, 'd')), /regular file/);
});

test('safe files: a configured key readable by others is tightened (group read kept)', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sg-safe-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const key = join(root, 'k.pem');
  writeFileSync(key, 'k');
  chmodSync(key, 0o664);
  const notices: string[] = [];
  tightenConfiguredKeyFile(key, (m) => notices.push(m));
  assert.equal(statSync(key).mode & 0o777, 0o640);
  assert.equal(notices.length, 1);
  tightenConfiguredKeyFile(key, (m) => notices.push(m));
  assert.equal(notices.length, 1, 'a 0640 key is left alone');
  assert.throws(() => tightenConfiguredKeyFile(join(root, 'missing.pem')), /not found/);
  assert.ok(existsSync(key));
});
