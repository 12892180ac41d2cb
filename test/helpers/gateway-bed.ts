/**
 * The set-up most gateway interop tests share: a testbed (gateway and client namespaces), our
 * gateway in it, openconnect clients in the client namespace, and one clean-up, registered
 * before anything starts, that stops the clients, then the gateway, then removes the testbed —
 * also when the test fails half-way.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { createTestbed, type Testbed } from './netns.js';
import { startOpenconnect, type OpenconnectClient, type OpenconnectOptions } from './openconnect.js';
import { launchGateway, startGateway, type SslgateGateway, type StartGatewayOptions } from './sslgate.js';

export class GatewayBed {
  private gateway: SslgateGateway | undefined;
  readonly clients: OpenconnectClient[] = [];

  private constructor(readonly tb: Testbed) {}

  /** A testbed tagged `tag`, removed (with everything started here) when `t` ends. */
  static async open(t: TestContext, tag: string): Promise<GatewayBed> {
    let bed: GatewayBed | undefined;
    t.after(async () => {
      if (bed) await bed.cleanup();
    });
    bed = new GatewayBed(await createTestbed({ tag }));
    return bed;
  }

  /** Starts `sslgate serve` in the gateway namespace, listening on the testbed's address. */
  async startGateway(o: Omit<StartGatewayOptions, 'listenHost'>): Promise<SslgateGateway> {
    this.gateway = await startGateway(this.tb.gw, { listenHost: this.tb.gwAddr, ...o });
    return this.gateway;
  }

  /**
   * `sslgate serve` again on the same config and state folder (the previous one must be gone:
   * killed, or replaced); it becomes `gw`. Issue 12: restarts that keep the sessions.
   */
  async relaunch(extraArgs: string[] = []): Promise<SslgateGateway> {
    const old = this.gw;
    this.gateway = await launchGateway(this.tb.gw, { dir: old.dir, configFile: old.configFile, url: old.url }, extraArgs);
    return this.gateway;
  }

  get gw(): SslgateGateway {
    if (!this.gateway) throw new Error('GatewayBed: startGateway() first');
    return this.gateway;
  }

  /** openconnect in the client namespace against this gateway (its URL and pin filled in). */
  connect(o: Omit<OpenconnectOptions, 'url' | 'servercert'>): OpenconnectClient {
    const c = startOpenconnect(this.tb.cl, { url: this.gw.url, servercert: this.gw.pin, ...o });
    this.clients.push(c);
    return c;
  }

  /**
   * Pings `addr` from the client namespace until an answer comes or 15 s pass: openconnect says
   * "Configured as" (waitTunnel) a moment before vpnc-script has added the routes.
   */
  async pingSoon(addr: string): Promise<boolean> {
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      if (await this.tb.cl.ping(addr, { count: 1, timeoutMs: 3000 })) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  }

  /** Waits for `c`'s tunnel, pings `addr` (the gateway side) through it, then stops `c`. */
  async loginAndPing(c: OpenconnectClient, who: string, addr: string): Promise<void> {
    await c.waitTunnel(30_000).catch((e: Error) => assert.fail(`${who}: no tunnel: ${e.message}\n${c.proc.tail()}\n--- gateway:\n${this.gw.proc.tail(20)}`));
    assert.ok(await this.pingSoon(addr), `${who}: no ping answer from ${addr} through the tunnel`);
    await this.stop(c);
  }

  /** `c` must exit without a tunnel; returns everything it printed (`t` gets its last lines). */
  async refused(c: OpenconnectClient, who: string, t: TestContext): Promise<string> {
    const status = await c.proc.waitExit(30_000);
    await this.stop(c);
    const out = c.lines.map((l) => l.text).join('\n');
    t.diagnostic(`${who}: openconnect exited ${status.code}; its last lines:\n${c.proc.tail(12)}`);
    assert.notEqual(status.code, 0, `${who}: openconnect should have failed:\n${out}`);
    assert.ok(!c.lines.some((l) => /^Configured as/.test(l.text)), `${who}: a tunnel came up`);
    return out;
  }

  /** Stops one client (it is no longer cleaned up at the end). */
  async stop(c: OpenconnectClient): Promise<void> {
    await c.stop();
    const i = this.clients.indexOf(c);
    if (i >= 0) this.clients.splice(i, 1);
  }

  private async cleanup(): Promise<void> {
    for (const c of this.clients) await c.stop().catch(() => undefined);
    await this.gateway?.stop().catch(() => undefined);
    await this.tb.cleanup();
  }
}
