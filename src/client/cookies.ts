/**
 * The client's cookie jar for one gateway (PROTOCOL.md §1.2 item 5): every cookie the gateway
 * set is sent back on every auth request (ocserv keeps its multi-round state in
 * `webvpncontext`, ASA uses several helper cookies); CONNECT sends only `webvpn`.
 * Pure: no I/O, no clock (expiry is "already expired" vs "not").
 */

export class CookieJar {
  private readonly jar = new Map<string, string>();

  /** Applies one Set-Cookie header value. An empty value or an expiry in the past deletes. */
  set(header: string, nowMs = Date.now()): void {
    const parts = header.split(';');
    const first = parts.shift() ?? '';
    const eq = first.indexOf('=');
    if (eq <= 0) return;
    const name = first.slice(0, eq).trim();
    const value = first.slice(eq + 1).trim();
    let expired = value === '';
    for (const attr of parts) {
      const [k, ...rest] = attr.split('=');
      const key = (k ?? '').trim().toLowerCase();
      const v = rest.join('=').trim();
      if (key === 'max-age' && /^-?\d+$/.test(v) && Number(v) <= 0) expired = true;
      if (key === 'expires') {
        const t = Date.parse(v);
        if (Number.isFinite(t) && t <= nowMs) expired = true;
      }
    }
    if (expired) this.jar.delete(name);
    else this.jar.set(name, value);
  }

  setAll(headers: string[]): void {
    for (const h of headers) this.set(h);
  }

  get(name: string): string | undefined {
    return this.jar.get(name);
  }

  put(name: string, value: string): void {
    this.jar.set(name, value);
  }

  delete(name: string): void {
    this.jar.delete(name);
  }

  get size(): number {
    return this.jar.size;
  }

  /** `a=1; b=2`, or undefined when empty. */
  header(): string | undefined {
    if (this.jar.size === 0) return undefined;
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}
