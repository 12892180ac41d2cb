import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { interopSkipReason, tcpTransfer } from '../helpers/netns.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { gwHost } from '../helpers/sslgate.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']);

test('smoke: workers 2, one client', { skip, timeout: 200_000 }, async (t: TestContext) => {
  const bed = await GatewayBed.open(t, 'mcsmk');
  const net = bed.tb.poolNet(0);
  const gw = await bed.startGateway({ yaml: `workers: 2\nnetwork:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`, users: [{ name: 'alice', password: 'secret' }] });
  try {
    const oc = bed.connect({ user: 'alice', password: 'secret', authgroup: 'Employees' });
    const tun = await oc.waitTunnel(20_000);
    await oc.proc.waitForLine(/Established DTLS connection/, 15_000);
    assert.ok(await bed.pingSoon(gwHost(net)), 'no ping');
    const up = await tcpTransfer(bed.tb.cl, bed.tb.gw, gwHost(net), 1 << 22);
    assert.equal(up.receivedSha256, up.sentSha256);
    const down = await tcpTransfer(bed.tb.gw, bed.tb.cl, tun.address, 1 << 22);
    assert.equal(down.receivedSha256, down.sentSha256);
  } finally {
    t.diagnostic(gw.proc.tail(60));
  }
});
