/**
 * AuthHandler on its own (src/gateway/auth-handler.ts): group selection by name, label and URL
 * path, unknown groups, wrong passwords and groups a user may not use, bans and locks, session
 * limits, logout and malformed XML. A fake PasswordChecker stands in for the privileged process;
 * config, SessionStore, BanGuard and events are the real ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LOGIN_FAILED, type RequestContext } from '../../src/gateway/auth-handler.js';
import { formFacts, glue, initBody, logoutBody, replyBody } from './gateway-glue-helpers.js';

const ctx = (path = '/', remoteAddr = '10.9.0.2'): RequestContext => ({ remoteAddr, userAgent: 'Open AnyConnect VPN Agent v9.01', path });

test('init: the group is chosen by name, by label or by the URL path; the default otherwise', async () => {
  const g = glue();
  const cases: Array<[string | undefined, string, string]> = [
    [undefined, '/', 'Employees'],
    ['Contractors', '/', 'Contractors'],
    ['contractors', '/', 'Contractors'], // case-insensitive, as ocserv
    ['External Contractors', '/', 'Contractors'], // the label (ocserv quirk 28)
    [undefined, '/Contractors', 'Contractors'], // group URL (§1.5)
    [undefined, '/External%20Contractors?x=1', 'Contractors'],
    ['Employees', '/Contractors', 'Employees'], // an explicit group-select wins over the path
  ];
  for (const [select, path, want] of cases) {
    const r = await g.auth.handlePost(initBody(select), ctx(path));
    assert.equal(r.status, 200);
    assert.ok(r.headers.some(([k, v]) => k === 'X-Aggregate-Auth' && v === '1'));
    const f = formFacts(r.body);
    assert.equal(f.selected, want, `group-select ${select} path ${path}`);
    assert.equal(f.error, null);
    assert.deepEqual(f.options, ['Employees', 'Contractors']);
    assert.match(r.body, /<input type="text" name="username"/);
    assert.match(r.body, /<input type="password" name="password"/);
  }
  assert.equal(g.sessions.size, 0);
});

test('init: an unknown group gets the default group and an error naming it', async () => {
  const g = glue();
  const r = await g.auth.handlePost(initBody('Nope'), ctx());
  assert.equal(r.status, 200);
  assert.deepEqual([formFacts(r.body).selected, formFacts(r.body).error], ['Employees', 'Unknown group Nope.']);
});

test('login: right password -> complete with token, Set-Cookie, cert hash, banner; login event', async () => {
  const g = glue();
  const r = await g.auth.handlePost(replyBody('alice', 'alice-pw', 'External Contractors'), ctx('/', '10.9.0.7'));
  assert.equal(r.status, 200);
  assert.match(r.body, /<config-auth[^>]* type="complete"/);
  const token = /<session-token>([^<]+)<\/session-token>/.exec(r.body)?.[1];
  assert.ok(token, r.body);
  const s = g.sessions.byCookie(token);
  assert.ok(s, 'the token names a session');
  assert.deepEqual([s.user, s.group.name, s.remoteAddr], ['alice', 'Contractors', '10.9.0.7']);
  assert.deepEqual(r.headers.find(([k]) => k === 'Set-Cookie'), ['Set-Cookie', `webvpn=${token}; Secure; HttpOnly`]);
  assert.match(r.body, new RegExp(`<vpn-base-config>\\s*<server-cert-hash>${'AB'.repeat(20)}</server-cert-hash>`));
  assert.match(r.body, /Hello from the unit test/);
  assert.deepEqual(g.passwords.calls, [['alice', 'alice-pw']]);
  const login = g.seen.find((e) => e.type === 'login');
  assert.deepEqual(login && { ...login, time: undefined }, { type: 'login', session: s.id, user: 'alice', group: 'Contractors', remote: '10.9.0.7', agent: 'Open AnyConnect VPN Agent v9.01', methods: ['local'], time: undefined });
});

test('login: wrong password -> the form again with "Login failed.", a bad-credentials failure, points', async () => {
  const g = glue();
  const r = await g.auth.handlePost(replyBody('alice', 'wrong', 'Employees'), ctx());
  assert.equal(r.status, 200);
  assert.notEqual(r.close, true, 'ASA style: the connection stays for another try');
  assert.deepEqual([formFacts(r.body).selected, formFacts(r.body).error], ['Employees', LOGIN_FAILED]);
  assert.doesNotMatch(r.body, /session-token/);
  assert.equal(g.sessions.size, 0);
  const fails = g.seen.filter((e) => e.type === 'auth-failure');
  assert.deepEqual(fails.map((e) => e.type === 'auth-failure' && [e.user, e.group, e.reason, e.remote]), [['alice', 'Employees', 'bad-credentials', '10.9.0.2']]);
  // an unknown user is the same answer (no enumeration)
  const u = await g.auth.handlePost(replyBody('mallory', 'x'), ctx());
  assert.equal(formFacts(u.body).error, LOGIN_FAILED);
  assert.ok(g.guard.delayFor('10.9.0.2') > 0, 'the guard scored the failures (the next failure is slowed down)');
});

test('login: a group the user may not use fails like a wrong password, with its own reason', async () => {
  const g = glue();
  const r = await g.auth.handlePost(replyBody('carol', 'carol-pw', 'Employees'), ctx());
  assert.equal(formFacts(r.body).error, LOGIN_FAILED);
  assert.equal(g.sessions.size, 0);
  const f = g.seen.find((e) => e.type === 'auth-failure');
  assert.equal(f?.type === 'auth-failure' && f.reason, 'group-not-allowed');
  const ok = await g.auth.handlePost(replyBody('carol', 'carol-pw', 'Contractors'), ctx());
  assert.match(ok.body, /type="complete"/);
});

test('login: empty user name or password -> the form with a prompt, no password check', async () => {
  const g = glue();
  for (const [u, p] of [['', 'x'], ['alice', ''], ['   ', 'alice-pw']] as const) {
    const r = await g.auth.handlePost(replyBody(u, p), ctx());
    assert.equal(formFacts(r.body).error, 'Please enter a username and a password.');
  }
  assert.deepEqual(g.passwords.calls, []);
});

test('login: a banned address and a locked user get no password check at all', async () => {
  const g = glue();
  for (let i = 0; i < 10 && g.guard.bannedFor('10.9.9.9') === 0; i++) g.guard.addPoints('10.9.9.9', 'password');
  assert.ok(g.guard.bannedFor('10.9.9.9') > 0, 'set-up: the address is banned');
  const r = await g.auth.handlePost(replyBody('alice', 'alice-pw'), ctx('/', '10.9.9.9'));
  assert.match(formFacts(r.body).error ?? '', /^Too many failed logins; try again in \d+ seconds\.$/);
  assert.equal(g.sessions.size, 0);
  assert.deepEqual(g.passwords.calls, []);
  const f = g.seen.filter((e) => e.type === 'auth-failure').at(-1);
  assert.equal(f?.type === 'auth-failure' && f.reason, 'address-banned');
});

test('limits: max-sessions-per-user refuse-newest refuses, end-oldest ends the oldest; max-clients refuses', async () => {
  const refuse = glue(`limits: { max-sessions-per-user: 1, session-overflow: refuse-newest }\nnetwork: { address: 10.60.0.1/24 }\n`);
  assert.match((await refuse.auth.handlePost(replyBody('alice', 'alice-pw'), ctx())).body, /type="complete"/);
  const r = await refuse.auth.handlePost(replyBody('alice', 'alice-pw'), ctx());
  assert.equal(formFacts(r.body).error, 'You already have 1 session (at most 1); disconnect one first.');
  assert.equal(refuse.sessions.size, 1);
  const f = refuse.seen.filter((e) => e.type === 'auth-failure').at(-1);
  assert.equal(f?.type === 'auth-failure' && f.reason, 'max-sessions');

  const evict = glue(`limits: { max-sessions-per-user: 1, session-overflow: end-oldest }\nnetwork: { address: 10.60.0.1/24 }\n`);
  await evict.auth.handlePost(replyBody('alice', 'alice-pw'), ctx());
  const first = [...evict.sessions.all()][0]!;
  assert.match((await evict.auth.handlePost(replyBody('alice', 'alice-pw'), ctx())).body, /type="complete"/);
  assert.deepEqual(evict.ended.map(([s, why]) => [s.id, why]), [[first.id, 'replaced by a newer login (max-sessions-per-user)']]);
  assert.equal(evict.sessions.size, 1);
  assert.notEqual([...evict.sessions.all()][0]!.id, first.id);

  const full = glue(`limits: { max-clients: 1 }\nnetwork: { address: 10.60.0.1/24 }\n`);
  await full.auth.handlePost(replyBody('alice', 'alice-pw'), ctx());
  full.passwords.users.set('bob', undefined);
  const c = await full.auth.handlePost(replyBody('bob', 'bob-pw'), ctx());
  assert.equal(formFacts(c.body).error, 'The gateway has reached its maximum number of clients; try again later.');
  assert.equal(full.sessions.size, 1);
});

test('logout: ends the named session; an unknown token is answered the same and ends nothing', async () => {
  const g = glue();
  const done = await g.auth.handlePost(replyBody('alice', 'alice-pw'), ctx());
  const token = /<session-token>([^<]+)</.exec(done.body)![1]!;
  const s = g.sessions.byCookie(token)!;
  const other = await g.auth.handlePost(logoutBody('not-a-token'), ctx());
  assert.equal(other.status, 200);
  assert.equal(g.ended.length, 0);
  const r = await g.auth.handlePost(logoutBody(token), ctx());
  assert.deepEqual([r.status, r.body], [200, '']);
  assert.deepEqual(g.ended.map(([x, why]) => [x.id, why]), [[s.id, 'logout']]);
  assert.equal(g.sessions.byCookie(token), undefined);
});

test('legacy form bodies (not XML): an empty POST is the form, field=value pairs are a login', async () => {
  const g = glue();
  assert.equal(formFacts((await g.auth.handlePost('', ctx())).body).selected, 'Employees');
  const r = await g.auth.handlePost('username=alice&password=alice-pw&group_list=Contractors', ctx());
  assert.match(r.body, /type="complete"/);
  assert.equal([...g.sessions.all()][0]!.group.name, 'Contractors');
});

test('malformed XML -> 400 and close, a bad-request event (the guard scores it), no session', async () => {
  // (a body that does not start with "<" is the legacy form flow, §2.7, not malformed XML)
  const bodies = [
    '<config-auth type="init"',
    '<other type="init"/>',
    '<config-auth type="init"><unclosed></config-auth>',
    '<config-auth type="what"/>',
    '<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><config-auth type="init"><x>&b;</x></config-auth>',
  ];
  for (const body of bodies) {
    const g = glue();
    const r = await g.auth.handlePost(body, ctx('/', '10.9.0.5'));
    assert.deepEqual([r.status, r.close], [400, true], JSON.stringify(body));
    assert.deepEqual(g.seen.map((e) => e.type === 'bad-request' && [e.remote, e.reason]), [['10.9.0.5', 'auth-xml']]);
    assert.equal(g.sessions.size, 0);
    assert.deepEqual(g.passwords.calls, []);
  }
});

test('limits, with the defaults: one account logging in 20 times holds at most 2 sessions (ocserv max-same-clients)', async () => {
  const g = glue();
  for (let i = 0; i < 20; i++) assert.match((await g.auth.handlePost(replyBody('alice', 'alice-pw'), ctx())).body, /type="complete"/);
  assert.equal(g.sessions.size, 2);
  assert.equal(g.sessions.countFor('alice'), 2);
  assert.equal(g.ended.length, 18, 'each new login over the limit ended the oldest session (end-oldest, the default)');
});
