/**
 * Issue 10, client: a person at a terminal. `sslgate connect --authenticate` runs on a
 * pseudo-terminal (Python's pty module drives it like `expect`) against a scripted gateway that
 * asks as sslgate's gateway will: user name and password, a challenge code, then an expired
 * password's new + confirm form. The new password is asked twice; two different entries are
 * refused locally and asked again; only the matching one is sent, once, as `<password>`.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pinSha256 } from '../../src/protocol/cert-pin.js';
import { parseClientAuth } from '../../src/protocol/auth-xml.js';
import { fakeGateway } from '../helpers/fake-auth-gateway.js';
import { prerequisite } from '../helpers/prerequisites.js';
import { SSLGATE_BIN } from '../interop/client-harness.js';

/** expect-like: argv[1] = JSON [[regex, text to send], ...], argv[2:] = the command. */
const PTY_DRIVER = String.raw`
import json, os, pty, re, select, sys, time
steps = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
out = b''
pos = 0
deadline = time.time() + 60  # a guard against a hang, not a measurement
def more():
    global out
    r, _, _ = select.select([fd], [], [], 0.5)
    if not r:
        return True
    try:
        d = os.read(fd, 4096)
    except OSError:
        return False
    if not d:
        return False
    out += d
    return True
for pat, text in steps:
    rx = re.compile(pat.encode())
    while True:
        m = rx.search(out, pos)
        if m:
            pos = m.end()
            break
        if time.time() > deadline or not more():
            sys.stdout.write(out.decode(errors='replace'))
            sys.stdout.write('\n[pty driver: never saw %r]\n' % pat)
            sys.exit(90)
    os.write(fd, text.encode())
while time.time() < deadline and more():
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace'))
sys.exit(os.waitstatus_to_exitcode(status))
`;

let dir = '';
let key: Buffer;
let cert: Buffer;
const skip = prerequisite('the terminal prompt test', (() => {
  try {
    execFileSync('python3', ['-c', 'import pty'], { stdio: 'ignore' });
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'python3 (pty module) and openssl are needed';
  }
})());

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'sslgate-tty-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'k.pem'),
    '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=gw.test'], { stdio: 'ignore' });
  key = readFileSync(join(dir, 'k.pem'));
  cert = readFileSync(join(dir, 'c.pem'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const form = (authId: string, handle: string, fields: string, message: string): string => `<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="auth-request" aggregate-auth-version="2">
<opaque is-for="sg"><auth-handle>${handle}</auth-handle></opaque>
<auth id="${authId}"><message>${message}</message><form method="post" action="/auth">${fields}</form></auth></config-auth>`;

test('a person types the password, the code and a new password twice (a mismatch is asked again)', { skip, timeout: 90_000 }, async () => {
  const gw = await fakeGateway({ key, cert }, (_req, i) => {
    switch (i) {
      case 0:
        return { body: form('main', 'h0', '<input type="text" name="username" label="Username:"/><input type="password" name="password" label="Password:"/>', 'Please log in') };
      case 1:
        return { body: form('challenge', 'h1', '<input type="password" name="password" label="Verification code:"/>', 'Enter the code from your app') };
      case 2:
        return { body: form('passwd-change', 'h2', '<input type="password" name="new_password" label="New password:"/><input type="password" name="verify_password" label="Confirm new password:"/>', 'Your password has expired') };
      default:
        return {
          body: '<?xml version="1.0" encoding="UTF-8"?><config-auth client="vpn" type="complete"><auth id="success"><message>Password changed</message></auth></config-auth>',
          headers: [['Set-Cookie', 'webvpn=TTYCOOKIE; Secure']],
        };
    }
  });
  try {
    const steps = [
      ['Username: ', 'alice\r'],
      ['Password: ', 'old-secret\r'],
      ['Verification code: ', '123456\r'],
      ['New password: ', 'first-try\r'],
      ['Confirm new password: ', 'second-try\r'],
      ['the two entries differ', ''],
      ['New password: ', 'N3w-secret\r'],
      ['Confirm new password: ', 'N3w-secret\r'],
    ];
    const pin = pinSha256(new X509Certificate(cert).raw);
    const cmd = [process.execPath, SSLGATE_BIN, 'connect', gw.url, '--authenticate', '--servercert', pin, '--prefs-dir', join(dir, 'prefs')];
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile('python3', ['-c', PTY_DRIVER, JSON.stringify(steps), ...cmd], { timeout: 80_000 }, (err, stdout) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: stdout });
      });
    });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /COOKIE='TTYCOOKIE'/);
    for (const m of ['Please log in', 'Enter the code from your app', 'Your password has expired', 'Password changed']) assert.ok(r.out.includes(m), `${m} shown\n${r.out}`);
    for (const secret of ['old-secret', 'N3w-secret', 'first-try']) assert.ok(!r.out.includes(secret), `${secret} was echoed`);
    const docs = gw.reqs.map((q) => parseClientAuth(q.body.toString('utf8')));
    assert.equal(docs.length, 4);
    const fields = docs.map((d) => (d.type === 'auth-reply' ? [...d.fields] : []));
    assert.deepEqual(fields[1], [['username', 'alice'], ['password', 'old-secret']]);
    assert.deepEqual(fields[2], [['password', '123456']]);
    assert.deepEqual(fields[3], [['password', 'N3w-secret']], 'the new password once, the mismatching entries never');
  } finally {
    gw.close();
  }
});
