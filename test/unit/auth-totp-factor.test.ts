/**
 * auth/totp-factor.ts over a real UserStore in a temp folder, with an injected clock: the
 * challenge, accept, wrong and malformed codes, replay (the same code again, an older one, two
 * logins racing with one code, a second store instance as after a reload), the accepted step on
 * disk, read-modify-write against a CLI that changed the file meanwhile, and bad records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base32Encode } from '../../src/protocol/base32.js';
import { hotp, timeStep } from '../../src/protocol/totp.js';
import { TOTP_MESSAGES, TotpFactor, type TotpFactorOptions, type TotpOutcome } from '../../src/gateway/auth/totp-factor.js';
import type { LoginContext, MethodResult } from '../../src/gateway/auth/types.js';
import { UserStore } from '../../src/gateway/user-store.js';
import { seeded } from '../helpers/seed.js';

const ctx: LoginContext = { remote: '192.0.2.7', group: 'Employees' };

interface Bed {
  dir: string;
  store: UserStore;
  key: Buffer;
  /** the injected clock, seconds since the epoch */
  clock: { s: number };
  events: Array<{ user: string; outcome: TotpOutcome; counter?: number }>;
  factor(extra?: Partial<TotpFactorOptions>): TotpFactor;
  /** the code of the step `delta` steps from the clock's */
  code(delta?: number): string;
}

async function bed(t: { after(fn: () => void): void }, label: string): Promise<Bed> {
  const dir = mkdtempSync(join(tmpdir(), 'sg-totp-factor-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = UserStore.inState(dir);
  const rng = seeded(`totp-factor ${label}`);
  const key = rng.bytes(20);
  await store.set('alice', 'alice-pw', ['Employees']);
  store.setTotp('alice', base32Encode(key, false));
  // A moment from the seed, 10 s into its step (a later test moves it by whole steps or to edges).
  const clock = { s: timeStep(1_600_000_000 + rng.int(100_000_000)) * 30 + 10 };
  const events: Bed['events'] = [];
  return {
    dir,
    store,
    key,
    clock,
    events,
    factor: (extra = {}) =>
      new TotpFactor({ users: store, now: () => clock.s * 1000, onOutcome: (e) => events.push({ user: e.user, outcome: e.outcome, ...(e.counter !== undefined ? { counter: e.counter } : {}) }), ...extra }),
    code: (delta = 0) => hotp(key, timeStep(clock.s) + delta),
  };
}

async function challenge(f: TotpFactor, user: string): Promise<unknown> {
  const r = await f.begin(user, ctx);
  assert.equal(r.kind, 'challenge');
  return (r as Extract<MethodResult, { kind: 'challenge' }>).state;
}

function onDisk(dir: string): Record<string, { totp?: { secret: string; lastCounter?: number }; groups?: string[] }> {
  return (JSON.parse(readFileSync(join(dir, 'users.json'), 'utf8')) as { users: Record<string, never> }).users;
}

test('TotpFactor: challenge, accept, the step recorded on disk, the same code again is a replay', async (t) => {
  const b = await bed(t, 'basic');
  const f = b.factor();
  assert.equal(f.name, 'totp');
  const r = await f.begin('alice', ctx);
  assert.equal(r.kind, 'challenge');
  assert.equal((r as { message: string }).message, 'Enter the code from your authenticator app');
  const state = (r as { state: unknown }).state;

  assert.deepEqual(await f.respond('alice', state, b.code(), ctx), { kind: 'accept' });
  const step = timeStep(b.clock.s);
  assert.equal(onDisk(b.dir)['alice']!.totp!.lastCounter, step);
  assert.equal(b.store.get('alice')!.totp!.lastCounter, step);

  assert.deepEqual(await f.respond('alice', await challenge(f, 'alice'), b.code(), ctx), { kind: 'reject', message: TOTP_MESSAGES.replay });
  b.clock.s += 19; // the last second of the same step: still its code, still a replay
  assert.deepEqual(await f.respond('alice', await challenge(f, 'alice'), hotp(b.key, step), ctx), { kind: 'reject', message: TOTP_MESSAGES.replay });
  b.clock.s += 1; // the next step: its code is new
  assert.deepEqual(await f.respond('alice', await challenge(f, 'alice'), b.code(), ctx), { kind: 'accept' });
  assert.deepEqual(await f.respond('alice', await challenge(f, 'alice'), hotp(b.key, step), ctx), { kind: 'reject', message: TOTP_MESSAGES.replay }, 'an older code is refused as well');
  assert.deepEqual(
    b.events.map((e) => e.outcome),
    ['accepted', 'replay', 'replay', 'accepted', 'replay'],
  );
  assert.deepEqual(b.events[0], { user: 'alice', outcome: 'accepted', counter: step });
});

test('TotpFactor: wrong, malformed, outside the window, not enrolled: distinct messages', async (t) => {
  const b = await bed(t, 'wrong');
  const f = b.factor();
  const st = await challenge(f, 'alice');
  const wrong = ['000000', '999999'].find((c) => ![-1, 0, 1].some((d) => b.code(d) === c))!;
  assert.deepEqual(await f.respond('alice', st, wrong, ctx), { kind: 'reject', message: TOTP_MESSAGES.wrong });
  assert.deepEqual(await f.respond('alice', st, '12345', ctx), { kind: 'reject', message: TOTP_MESSAGES.malformed });
  assert.deepEqual(await f.respond('alice', st, 'abcdef', ctx), { kind: 'reject', message: TOTP_MESSAGES.malformed });
  assert.deepEqual(await f.respond('alice', st, b.code(2), ctx), { kind: 'reject', message: TOTP_MESSAGES.wrong }, 'two steps ahead');
  assert.deepEqual(await f.respond('alice', st, b.code(-2), ctx), { kind: 'reject', message: TOTP_MESSAGES.wrong }, 'two steps behind');
  assert.equal(onDisk(b.dir)['alice']!.totp!.lastCounter, undefined, 'refused codes record nothing');
  assert.deepEqual(await f.respond('alice', st, b.code(-1).slice(0, 3) + ' ' + b.code(-1).slice(3), ctx), { kind: 'accept' }, 'the step before, typed with a space');
  // With window 0 only the current step counts.
  const strict = b.factor({ window: 0 });
  b.clock.s += 60;
  assert.deepEqual(await strict.respond('alice', await challenge(strict, 'alice'), b.code(1), ctx), { kind: 'reject', message: TOTP_MESSAGES.wrong });

  // A user without TOTP (or unknown) cannot begin.
  await b.store.set('bob', 'bob-pw');
  assert.deepEqual(await f.begin('bob', ctx), { kind: 'reject', message: TOTP_MESSAGES.notEnrolled });
  assert.deepEqual(await f.begin('nobody', ctx), { kind: 'reject', message: TOTP_MESSAGES.notEnrolled });
  const messages = new Set(Object.values(TOTP_MESSAGES));
  assert.equal(messages.size, Object.keys(TOTP_MESSAGES).length, 'each reason has its own text');
  assert.deepEqual(
    b.events.map((e) => e.outcome),
    ['wrong', 'malformed', 'malformed', 'wrong', 'wrong', 'accepted', 'wrong', 'not-enrolled', 'not-enrolled'],
  );
});

test('TotpFactor: two logins racing with one code: exactly one wins', async (t) => {
  const b = await bed(t, 'race');
  const f = b.factor();
  const [s1, s2, s3] = [await challenge(f, 'alice'), await challenge(f, 'alice'), await challenge(f, 'alice')];
  const code = b.code();
  const results = await Promise.all([f.respond('alice', s1, code, ctx), f.respond('alice', s2, code, ctx), f.respond('alice', s3, code, ctx)]);
  assert.equal(results.filter((r) => r.kind === 'accept').length, 1, JSON.stringify(results));
  assert.equal(results.filter((r) => r.kind === 'reject' && r.message === TOTP_MESSAGES.replay).length, 2);
});

test('TotpFactor: a second store instance (as after a reload) refuses a code the first accepted', async (t) => {
  const b = await bed(t, 'two stores');
  const before = UserStore.inState(b.dir); // loaded before the code is used: its memory has no lastCounter
  const f1 = b.factor();
  const f2 = new TotpFactor({ users: before, now: () => b.clock.s * 1000 });
  const code = b.code();
  assert.deepEqual(await f1.respond('alice', await challenge(f1, 'alice'), code, ctx), { kind: 'accept' });
  assert.equal(before.get('alice')!.totp!.lastCounter, undefined);
  assert.deepEqual(await f2.respond('alice', await challenge(f2, 'alice'), code, ctx), { kind: 'reject', message: TOTP_MESSAGES.replay }, 'the step on disk counts');
});

test('TotpFactor: recording a step is read-modify-write: users added or changed by the CLI meanwhile survive', async (t) => {
  const b = await bed(t, 'rmw');
  const f = b.factor(); // the gateway's store: loaded before the CLI's changes
  const cli = UserStore.inState(b.dir);
  await cli.set('carol', 'carol-pw');
  cli.setGroups('alice', ['Employees', 'Admins']);
  assert.deepEqual(await f.respond('alice', await challenge(f, 'alice'), b.code(), ctx), { kind: 'accept' });
  const users = onDisk(b.dir);
  assert.ok(users['carol'], 'the user the CLI added is still there');
  assert.deepEqual(users['alice']!.groups, ['Employees', 'Admins'], 'the groups the CLI set are still there');
  assert.equal(users['alice']!.totp!.lastCounter, timeStep(b.clock.s));
  assert.equal(b.store.get('carol'), undefined, 'the gateway snapshot changes only at a reload');
  // And the reverse: the CLI store, loaded before the step was recorded, keeps it when it writes.
  cli.setGroups('alice', ['Employees']);
  assert.equal(onDisk(b.dir)['alice']!.totp!.lastCounter, timeStep(b.clock.s));
  // A user re-enrolled on disk since the load: the old snapshot's code is accepted until the reload,
  // but its step is not written into the new enrolment.
  b.clock.s += 30;
  cli.setTotp('alice', base32Encode(Buffer.alloc(20, 7), false));
  assert.deepEqual(await f.respond('alice', await challenge(f, 'alice'), b.code(), ctx), { kind: 'accept' });
  assert.deepEqual(onDisk(b.dir)['alice']!.totp, { secret: base32Encode(Buffer.alloc(20, 7), false) });
});

test('TotpFactor: a TOTP-only user (no local password) is checked like any other', async (t) => {
  const b = await bed(t, 'totp only');
  b.store.setTotp('ldap-user', base32Encode(b.key, false));
  const f = b.factor();
  assert.deepEqual(await f.respond('ldap-user', await challenge(f, 'ldap-user'), b.code(), ctx), { kind: 'accept' });
  assert.equal(onDisk(b.dir)['ldap-user']!.totp!.lastCounter, timeStep(b.clock.s));
});

test('TotpFactor: a bad secret on disk, an unwritable store and a foreign state are errors, not accepts', async (t) => {
  const b = await bed(t, 'errors');
  const f = b.factor();
  // A state from another user's challenge.
  b.store.setTotp('bob', base32Encode(b.key, false));
  const bobState = await challenge(f, 'bob');
  assert.equal((await f.respond('alice', bobState, b.code(), ctx)).kind, 'error');
  assert.equal((await f.respond('alice', { factor: 'radius' }, b.code(), ctx)).kind, 'error');
  assert.equal((await f.respond('alice', undefined, b.code(), ctx)).kind, 'error');

  // A hand-edited secret that is not base32.
  const file = join(b.dir, 'users.json');
  const data = JSON.parse(readFileSync(file, 'utf8')) as { users: Record<string, { totp: { secret: string } }> };
  data.users['alice']!.totp.secret = 'not base32!';
  writeFileSync(file, JSON.stringify(data), { mode: 0o600 });
  const edited = UserStore.inState(b.dir);
  const f2 = new TotpFactor({ users: edited, now: () => b.clock.s * 1000 });
  const r = await f2.respond('alice', await challenge(f2, 'alice'), b.code(), ctx);
  assert.equal(r.kind, 'error');
  assert.match((r as { message: string }).message, /cannot be read .*not base32/);

  // A record of the wrong shape fails the load with the user named.
  (data.users['alice'] as unknown as { totp: unknown }).totp = { secret: 5 };
  writeFileSync(file, JSON.stringify(data), { mode: 0o600 });
  assert.throws(() => UserStore.inState(b.dir), /user "alice": totp.secret must be base32 text/);
  (data.users['alice'] as unknown as { totp: unknown }).totp = { secret: 'JBSWY3DPEHPK3PXP', lastCounter: -1 };
  writeFileSync(file, JSON.stringify(data), { mode: 0o600 });
  assert.throws(() => UserStore.inState(b.dir), /lastCounter must be a whole number/);
  (data.users['alice'] as unknown as { mustChange: unknown }).mustChange = 'yes';
  (data.users['alice'] as unknown as { totp: unknown }).totp = { secret: 'JBSWY3DPEHPK3PXP' };
  writeFileSync(file, JSON.stringify(data), { mode: 0o600 });
  assert.throws(() => UserStore.inState(b.dir), /mustChange must be true or false/);

  // users.json unreadable when the step is to be recorded (a directory where the file was):
  // an error, and the code is not taken as accepted in memory either.
  const f3 = b.factor();
  const st = await challenge(f3, 'bob');
  rmSync(file);
  mkdirSync(file);
  const r3 = await f3.respond('bob', st, b.code(), ctx);
  assert.equal(r3.kind, 'error', JSON.stringify(r3));
  assert.equal(b.store.get('bob')!.totp!.lastCounter, undefined);
});
