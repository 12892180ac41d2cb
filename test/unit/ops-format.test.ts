import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, duration, eventLine, sessionsTable, table } from '../../src/cli/ctl-format.js';
import { prettyLine } from '../../src/log-pretty.js';
import { createLogger } from '../../src/log.js';
import { sessionView } from '../../src/gateway/ops/session-view.js';
import { FakeGateway } from './ops-helpers.js';

test('ctl format: sizes, durations, tables', () => {
  assert.equal(bytes(512), '512 B');
  assert.equal(bytes(1536), '1.5 KiB');
  assert.equal(bytes(20 * 1024 * 1024), '20 MiB');
  assert.equal(duration(42), '42s');
  assert.equal(duration(250), '4m10s');
  assert.equal(duration(7500), '2h5m');
  assert.equal(duration(90000), '1d1h');
  assert.equal(table(['A', 'BB'], [['xxx', 'y'], ['z', 'w']]), 'A    BB\nxxx  y\nz    w\n');
  assert.equal(table(['A'], []), '');
  const gw = new FakeGateway();
  const s = gw.connect('alice');
  s.fake.counters.rxBytes = 2048;
  const out = sessionsTable([sessionView(s)], true);
  assert.match(out, /^ID\s+USER\s+GROUP\s+ADDRESS\s+REMOTE\s+SINCE\s+STATE\s+CHANNEL\s+IN\s+OUT\s+USER AGENT\n/);
  assert.match(out, /alice\s+default\s+10\.50\.0\.2\s+10\.77\.0\.2\s+0s\s+connected\s+TLS 1\.3 TLS_AES_256_GCM_SHA384\s+2\.0 KiB\s+0 B\s+Open AnyConnect/);
  assert.equal(eventLine({ time: '2024-01-01T12:00:01.000Z', type: 'login', user: 'alice', agent: 'Open AnyConnect' }), '12:00:01 login user=alice agent="Open AnyConnect"');
});

test('logs: the human format is one line per record; passwords, cookies and tokens never appear', () => {
  const lines: string[] = [];
  const destination = { write: (l: string): void => void lines.push(l) };
  const rec = { session: 3, user: 'alice', password: 'pw1', token: 'tok', req: { cookie: 'webvpn=abc', authorization: 'Bearer zzz' } };
  createLogger({ format: 'json', destination }).info(rec, 'login');
  const json = lines.join('');
  assert.ok(!/pw1|"tok"|webvpn=abc|zzz/.test(json), json);
  assert.equal((JSON.parse(json) as { session: number }).session, 3);
  lines.length = 0;
  createLogger({ format: 'pretty', destination }).warn(rec, 'login');
  assert.match(lines.join(''), /^\d\d:\d\d:\d\d\.\d{3} WARN  login session=3 user=alice password=\[redacted\] token=\[redacted\] req=\{"cookie":"\[redacted\]","authorization":"\[redacted\]"\}\n$/);
  assert.equal(prettyLine('not json'), 'not json');
});
