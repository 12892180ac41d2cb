/**
 * auth/local-method.ts over a real UserStore in a temp folder: accept with the user's groups,
 * reject (wrong password, unknown user, a user without a local password), expired passwords and
 * their change (old password re-checked, the policy, the new hash on disk, the expiry cleared,
 * groups and TOTP kept), and a user deleted on disk not brought back by a password change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_MESSAGES, LocalMethod, NEW_PASSWORD_MAX_BYTES, newPasswordProblem } from '../../src/gateway/auth/local-method.js';
import type { LoginContext } from '../../src/gateway/auth/types.js';
import { hashKind, NO_PASSWORD, UserStore } from '../../src/gateway/user-store.js';

const ctx: LoginContext = { remote: '192.0.2.7', group: 'Employees' };

function withStore(t: { after(fn: () => void): void }): { dir: string; store: UserStore } {
  const dir = mkdtempSync(join(tmpdir(), 'sg-local-method-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, store: UserStore.inState(dir) };
}

test('LocalMethod.authenticate: accept with groups, reject wrong/unknown/passwordless, expired when marked', async (t) => {
  const { dir, store } = withStore(t);
  await store.set('alice', 'alice-pw', ['Employees', 'Admins']);
  await store.set('bob', 'bob-pw');
  store.setTotp('radius-user', 'JBSWY3DPEHPK3PXP');
  assert.equal(store.get('radius-user')!.hash, NO_PASSWORD);
  const m = new LocalMethod({ users: store });
  assert.equal(m.name, 'local');
  assert.deepEqual(await m.authenticate('alice', 'alice-pw', ctx), { kind: 'accept', groups: ['Employees', 'Admins'] });
  assert.deepEqual(await m.authenticate('bob', 'bob-pw', ctx), { kind: 'accept' }, 'no groups: the method does not restrict');
  assert.deepEqual(await m.authenticate('alice', 'bob-pw', ctx), { kind: 'reject' });
  assert.deepEqual(await m.authenticate('nobody', 'x', ctx), { kind: 'reject' });
  // A TOTP-only user has no local password: nothing verifies, not even the marker itself.
  for (const pw of ['!', '', 'x']) assert.deepEqual(await m.authenticate('radius-user', pw, ctx), { kind: 'reject' }, JSON.stringify(pw));

  store.setMustChange('alice', true);
  assert.deepEqual(await m.authenticate('alice', 'alice-pw', ctx), { kind: 'expired', message: LOCAL_MESSAGES.expired, canChange: true });
  assert.deepEqual(await m.authenticate('alice', 'wrong', ctx), { kind: 'reject' }, 'an expired account still needs the right password');
  assert.equal(UserStore.inState(dir).get('alice')!.mustChange, true, 'the mark is on disk');
  assert.throws(() => store.setMustChange('radius-user', true), /no local password to expire/);
  assert.throws(() => store.setMustChange('nobody', true), /no user nobody/);
  store.setMustChange('alice', false);
  assert.equal(UserStore.inState(dir).get('alice')!.mustChange, undefined);
});

test('LocalMethod.changePassword: old password re-checked, policy, new hash on disk, expiry cleared, groups and TOTP kept', async (t) => {
  const { dir, store } = withStore(t);
  await store.set('alice', 'old-pw', ['Employees'], true);
  store.setTotp('alice', 'JBSWY3DPEHPK3PXP');
  const m = new LocalMethod({ users: store });
  assert.equal((await m.authenticate('alice', 'old-pw', ctx)).kind, 'expired');

  assert.deepEqual(await m.changePassword('alice', 'not-the-old', 'new-pw', undefined), { kind: 'reject' });
  // Policy refusals keep the conversation on the new-password form, with the reason.
  assert.deepEqual(await m.changePassword('alice', 'old-pw', '', undefined), { kind: 'expired', message: LOCAL_MESSAGES.empty, canChange: true });
  assert.deepEqual(await m.changePassword('alice', 'old-pw', 'old-pw', undefined), { kind: 'expired', message: LOCAL_MESSAGES.same, canChange: true });
  assert.deepEqual(await m.changePassword('alice', 'old-pw', 'é'.repeat(NEW_PASSWORD_MAX_BYTES / 2 + 1), undefined), { kind: 'expired', message: LOCAL_MESSAGES.tooLong, canChange: true }, 'bytes, not characters');
  assert.equal(UserStore.inState(dir).get('alice')!.mustChange, true, 'nothing changed yet');

  const longest = 'é'.repeat(NEW_PASSWORD_MAX_BYTES / 2);
  assert.deepEqual(await m.changePassword('alice', 'old-pw', longest, undefined), { kind: 'accept', groups: ['Employees'] });
  const again = UserStore.inState(dir);
  const rec = again.get('alice')!;
  assert.equal(rec.mustChange, undefined);
  assert.equal(hashKind(rec.hash), 'scrypt');
  assert.deepEqual(rec.groups, ['Employees']);
  assert.deepEqual(rec.totp, { secret: 'JBSWY3DPEHPK3PXP' });
  const fresh = new LocalMethod({ users: again });
  assert.deepEqual(await fresh.authenticate('alice', longest, ctx), { kind: 'accept', groups: ['Employees'] });
  assert.deepEqual(await fresh.authenticate('alice', 'old-pw', ctx), { kind: 'reject' });
  assert.deepEqual(await m.authenticate('alice', longest, ctx), { kind: 'accept', groups: ['Employees'] }, 'the store that changed it knows it too');
});

test('LocalMethod: an imported crypt hash is replaced by scrypt on change; NFKC spellings count as the same password', async (t) => {
  const { dir, store } = withStore(t);
  // sha256crypt of "Hello world!" (Drepper's test vector, as in user-import.test.ts)
  store.putHashed([{ name: 'carl', hash: '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5' }], false);
  store.setMustChange('carl', true);
  const m = new LocalMethod({ users: store, name: 'corp-local' });
  assert.equal(m.name, 'corp-local');
  assert.equal((await m.authenticate('carl', 'Hello world!', ctx)).kind, 'expired');
  assert.equal(newPasswordProblem('\uFB01sh', 'fish'), LOCAL_MESSAGES.same, 'the ligature fi is fi after NFKC');
  assert.equal(newPasswordProblem('a', 'b'), null);
  assert.deepEqual(await m.changePassword('carl', 'Hello world!', 'Goodbye world!', undefined), { kind: 'accept' });
  assert.equal(hashKind(UserStore.inState(dir).get('carl')!.hash), 'scrypt');
});

test('LocalMethod: a store getter follows a reload; a user deleted on disk is not brought back by a change', async (t) => {
  const { dir, store } = withStore(t);
  await store.set('dave', 'dave-pw', undefined, true);
  let current = store;
  const m = new LocalMethod({ users: () => current });
  assert.equal((await m.authenticate('dave', 'dave-pw', ctx)).kind, 'expired');
  // The CLI (another store instance) deletes dave; the gateway's snapshot still has him.
  assert.equal(UserStore.inState(dir).delete('dave'), true);
  assert.deepEqual(await m.changePassword('dave', 'dave-pw', 'new-pw', undefined), { kind: 'reject', message: LOCAL_MESSAGES.gone });
  assert.equal(UserStore.inState(dir).get('dave'), undefined, 'not resurrected');
  // After a reload (a new store), the method sees the new one.
  current = UserStore.inState(dir);
  assert.deepEqual(await m.authenticate('dave', 'dave-pw', ctx), { kind: 'reject' });
});
