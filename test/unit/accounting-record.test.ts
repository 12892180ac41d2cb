/**
 * terminateCause: the reasons the gateway really passes to endSession (gateway.ts, tunnel-setup.ts,
 * auth-handler.ts, ops/admin-api.ts) map to the Acct-Terminate-Cause RFC 2866 §5.10 means.
 * A reason string changed in one place and not here shows up as NAS-Request in accounting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { terminateCause } from '../../src/gateway/auth/accounting-record.js';

test('terminateCause: each reason the gateway uses', () => {
  const cases: Array<[string, ReturnType<typeof terminateCause>]> = [
    ['client disconnect', 'user-request'], // tunnel-setup.ts: openconnect's BYE (0xb0)
    ['logout', 'user-request'], // auth-handler.ts
    ['replaced by a newer login (max-sessions-per-user)', 'user-request'],
    ['idle timeout', 'idle-timeout'],
    ['session timeout', 'session-timeout'],
    ['terminated by admin', 'admin-reset'], // ops/admin-api.ts (ctl terminate)
    ['gateway shutting down', 'nas-reboot'], // accounting-reporter.ts stopAll
    ['no tunnel within cookie-timeout', 'lost-carrier'],
    ['something new', 'nas-request'],
  ];
  for (const [why, cause] of cases) assert.equal(terminateCause(why), cause, why);
});
