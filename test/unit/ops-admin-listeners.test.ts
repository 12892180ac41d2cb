/**
 * The admin listeners' own mechanics, which need no gateway: the Unix socket is created 0600 and
 * a live one is not taken over; the TCP token file is created 0600 and kept. What the API answers
 * is tested against a running gateway in test/interop/gateway-admin-api.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { closeServer, listenUnix } from '../../src/gateway/ops/admin-server.js';
import { readOrCreateToken } from '../../src/gateway/ops/ops.js';
import { call } from '../../src/cli/ctl-client.js';

const hello = (_req: IncomingMessage, res: ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{"hello":1}');
};

/** One GET over a new connection (no keep-alive agent: the server below is restarted). */
function rawGet(sock: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(sock, () => c.end('GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    let got = '';
    c.on('data', (d: Buffer) => (got += d.toString()));
    c.on('close', () => resolve(got));
    c.on('error', reject);
  });
}

test('Unix socket: 0600, answers, a live socket is not taken over, a stale one is replaced', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-admin-'));
  const servers: Server[] = [];
  t.after(async () => {
    for (const s of servers) await closeServer(s);
    rmSync(dir, { recursive: true, force: true });
  });
  const sock = join(dir, 'state', 'admin.sock');
  const first = await listenUnix(sock, hello);
  servers.push(first);
  assert.equal(statSync(sock).mode & 0o777, 0o600);
  assert.deepEqual(await call({ socketPath: sock, describe: sock }, 'GET', '/x'), { hello: 1 });
  await assert.rejects(listenUnix(sock, hello), /in use/);
  await closeServer(servers.pop()!);
  // a socket file nobody listens on (a crashed gateway) does not block the next start
  writeFileSync(sock, '');
  servers.push(await listenUnix(sock, hello));
  assert.equal(statSync(sock).mode & 0o777, 0o600);
  assert.match(await rawGet(sock), /^HTTP\/1\.1 200 [^]*\{"hello":1\}/);
});

test('token file: created 0600 with enough randomness, then kept; a short token is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-token-'));
  try {
    const file = join(dir, 'state', 'admin.token');
    const token = readOrCreateToken(file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(token.length >= 32, `token of ${token.length} characters`);
    assert.deepEqual(readOrCreateToken(file), token, 'the token is kept');
    writeFileSync(file, 'short\n');
    assert.throws(() => readOrCreateToken(file), /at least 16 characters/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
