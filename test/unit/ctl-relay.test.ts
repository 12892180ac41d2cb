import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CtlRelay } from '../../src/gateway/priv/ctl-relay.js';
import { CTL_PART_CHARS, ctlAnswerParts, parseCtlRequest, type CtlReply } from '../../src/gateway/priv/ctl-messages.js';
import { parseNetworkMessage } from '../../src/gateway/priv/messages.js';
import { askOthers, checkDisconnect, checkViews } from '../../src/gateway/ops/ctl-relay.js';
import { createLogger } from '../../src/log.js';
import { seeded } from '../helpers/seed.js';

const quiet = createLogger({ level: 'silent', format: 'json' });

function harness(timeoutMs = 50): { relay: CtlRelay; sent: Array<[number, CtlReply]>; warnings: string[] } {
  const sent: Array<[number, CtlReply]> = [];
  const warnings: string[] = [];
  const relay = new CtlRelay((w, m) => (sent.push([w, m]), true), (_f, msg) => warnings.push(msg), timeoutMs);
  return { relay, sent, warnings };
}

test('ctl relay: asks every other worker, joins the parts of each answer, answers the asker once', () => {
  const { relay, sent } = harness(10_000);
  relay.relay(0, 7, { op: 'sessions' }, [0, 1, 2]);
  const asks = sent.filter(([, m]) => m.t === 'ctl-ask');
  assert.deepEqual(asks.map(([w]) => w), [1, 2]);
  const id = (asks[0]![1] as { id: number }).id;
  relay.answer(1, id, '[{"id":', true);
  relay.answer(1, id, '3}]', false);
  assert.equal(sent.length, 2, 'no answer before every worker answered');
  relay.answer(2, id, '[]', false);
  const last = sent.at(-1)!;
  assert.equal(last[0], 0);
  assert.deepEqual(last[1], { t: 'ctl-relayed', id: 7, answers: [{ worker: 1, result: '[{"id":3}]' }, { worker: 2, result: '[]' }] });
});

test('ctl relay: a silent worker does not hang the asker (null after the timeout); late and foreign answers are dropped', async () => {
  const { relay, sent, warnings } = harness(30);
  relay.relay(1, 9, { op: 'disconnect', user: 'alice' }, [0, 1, 2]);
  const id = (sent[0]![1] as { id: number }).id;
  relay.answer(0, id, '{"disconnected":[4],"notConnected":[]}', false);
  relay.answer(1, id, 'x', false); // the asker itself was not asked
  await new Promise((r) => setTimeout(r, 80));
  const last = sent.at(-1)!;
  assert.deepEqual(last, [1, { t: 'ctl-relayed', id: 9, answers: [{ worker: 0, result: '{"disconnected":[4],"notConnected":[]}' }, { worker: 2, result: null }] }]);
  relay.answer(2, id, '[]', false);
  assert.equal(sent.filter(([, m]) => m.t === 'ctl-relayed').length, 1, 'answered once');
  assert.ok(warnings.some((w) => /did not answer/.test(w)));
  assert.ok(warnings.some((w) => /nothing asked/.test(w)));
});

test('ctl relay: one worker alone is answered at once with nothing', () => {
  const { relay, sent } = harness();
  relay.relay(0, 1, { op: 'sessions' }, [0]);
  assert.deepEqual(sent, [[0, { t: 'ctl-relayed', id: 1, answers: [] }]]);
});

test('ctl messages: parts of any answer fit a frame and join back (seeded)', () => {
  const rnd = seeded('ctl-parts');
  for (let i = 0; i < 50; i++) {
    const n = rnd.int(CTL_PART_CHARS * 4);
    const text = Array.from({ length: n }, () => String.fromCharCode(32 + rnd.int(200))).join('');
    const parts = ctlAnswerParts(text);
    assert.ok(parts.every((p) => p.length <= CTL_PART_CHARS));
    assert.equal(parts.join(''), text);
    for (const [j, part] of parts.entries()) {
      const m = parseNetworkMessage({ t: 'ctl-answer', id: 1, part, more: j < parts.length - 1 });
      assert.equal(m.t, 'ctl-answer');
    }
  }
});

test('ctl messages: hostile shapes end the channel', () => {
  assert.throws(() => parseCtlRequest({ t: 'ctl-relay', id: 1, ask: { op: 'terminate' } }), /needs an id or a user/);
  assert.throws(() => parseCtlRequest({ t: 'ctl-relay', id: 1, ask: { op: 'shutdown', id: 1 } }), /op must be/);
  assert.throws(() => parseCtlRequest({ t: 'ctl-relay', id: 1, ask: { op: 'sessions', user: 'x'.repeat(300) } }), /ask.user/);
  assert.throws(() => parseCtlRequest({ t: 'ctl-relay', id: 1, ask: { op: 'sessions' }, extra: 1 }), /unexpected key/);
  assert.throws(() => parseCtlRequest({ t: 'ctl-answer', id: 1, part: 'x'.repeat(CTL_PART_CHARS + 1), more: false }), /part must be/);
  assert.throws(() => parseNetworkMessage({ t: 'ctl-ask', id: 1, ask: { op: 'sessions' } }), /unknown type/);
  assert.deepEqual(parseCtlRequest({ t: 'ctl-relay', id: 2, ask: { op: 'disconnect', id: 5 } }), { t: 'ctl-relay', id: 2, ask: { op: 'disconnect', id: 5 } });
});

test('ctl relay (worker 0): malformed answers count as silent; good ones are used', async () => {
  const r = await askOthers(
    () => Promise.resolve([{ worker: 1, result: '{"disconnected":[3],"notConnected":[]}' }, { worker: 2, result: '{"disconnected":"all"}' }, { worker: 3, result: null }, { worker: 4, result: 'not json' }]),
    { op: 'disconnect', user: 'u' },
    checkDisconnect,
    quiet,
  );
  assert.deepEqual(r.answers, [{ worker: 1, value: { disconnected: [3], notConnected: [] } }]);
  assert.deepEqual(r.silent, [2, 3, 4]);
  assert.equal(checkViews([{ id: 1, user: 'a', state: 'connected', bytesIn: 1, bytesOut: 2 }])?.length, 1);
  assert.equal(checkViews([{ id: '1', user: 'a', state: 'connected', bytesIn: 1, bytesOut: 2 }]), null);
});
