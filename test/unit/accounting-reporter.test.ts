/**
 * AccountingReporter (the network process's side of RADIUS accounting): Start at login with the
 * server-assigned Framed-IP-Address already known, Interim-Updates at the server's
 * Acct-Interim-Interval (it wins over `accounting.interim`), Stop with the cause and the packets
 * of tunnels that already closed (openconnect's BYE closes the tunnel before the session ends).
 * Fake timers: the interval is checked by ticking the clock, not by waiting.
 */
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { AccountingReporter } from '../../src/gateway/accounting-reporter.js';
import type { AcctCause, AcctEvent, AcctRecord } from '../../src/gateway/auth/accounting-record.js';
import { parseConfigText } from '../../src/gateway/config.js';
import { IpPool } from '../../src/gateway/ip-pool.js';
import { SessionStore } from '../../src/gateway/sessions.js';
import { SessionTunnel } from '../../src/gateway/session-tunnel.js';
import { createLogger } from '../../src/log.js';
import type { CstpChannel } from '../../src/tunnel/cstp-channel.js';

const yaml = `network: {address: 10.61.0.1/24}
auth-servers:
  r: { type: radius, address: 127.0.0.1:1812, secret: s, accounting: 127.0.0.1:1813 }
groups:
  - name: G
    auth: [r]
accounting: { server: r, interim: 600 }
`;

test('Start with the Framed-IP, Interims at the server interval, Stop with cause and closed packets', () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    const cfg = parseConfigText(yaml, 'test', '/', null);
    const sent: Array<{ event: AcctEvent; rec: AcctRecord; cause?: AcctCause }> = [];
    const rep = new AccountingReporter({ config: () => cfg, report: (event, rec, cause) => sent.push({ event, rec, ...(cause ? { cause } : {}) }), log: createLogger({ level: 'silent' }) });
    const store = new SessionStore();
    const pool = new IpPool(cfg.network.address);
    const s = store.create('alice', cfg.groups[0]!, pool, '192.0.2.1', 'agent', { idleTimeout: null, sessionTimeout: null });
    s.attrs = { framedIp: '10.61.0.77', acctInterim: 5, radiusClass: ['T1U9Rw=='] };
    rep.started(s);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.event, 'start');
    assert.equal(sent[0]!.rec.framedIp, '10.61.0.77', 'known before the tunnel leases it');
    assert.deepEqual(sent[0]!.rec.radiusClass, ['T1U9Rw==']);
    mock.timers.tick(5000);
    mock.timers.tick(5000);
    assert.deepEqual(sent.map((x) => x.event), ['start', 'interim', 'interim'], 'every 5 s (the server), not 600 (the config)');
    // a tunnel carried traffic and closed (BYE) before the session ends
    const t = new SessionTunnel({} as CstpChannel);
    s.bindTunnel(t, '', Date.now());
    s.tunnelClosed(t, 500, 400, Date.now(), { rx: 6, tx: 5 });
    rep.ended(s, 'client disconnect');
    const stop = sent.at(-1)!;
    assert.equal(stop.event, 'stop');
    assert.equal(stop.cause, 'user-request');
    assert.deepEqual([stop.rec.inOctets, stop.rec.outOctets, stop.rec.inPackets, stop.rec.outPackets], [500, 400, 6, 5]);
    mock.timers.tick(20_000);
    assert.equal(sent.length, 4, 'no Interim after the Stop');
    rep.ended(s, 'logout');
    assert.equal(sent.length, 4, 'one Stop per session');
  } finally {
    mock.timers.reset();
  }
});
