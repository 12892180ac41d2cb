/**
 * CONNECT headers (src/protocol/connect-headers.ts): the gateway reads the request headers, the
 * client reads the answer. Input: header lines "Name: value" separated by CRLF.
 */
import { ConnectResponseError, decodeBanner, encodeBanner, formatConnectResponseHeaders, parseConnectRequest, parseConnectResponse } from '../../src/protocol/connect-headers.js';
import { HttpHeaders } from '../../src/protocol/http.js';
import { allowing, check, type FuzzTarget } from './target.js';

function headersOf(text: string): HttpHeaders {
  const h = new HttpHeaders();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) h.list.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return h;
}

export const connectHeaders: FuzzTarget = {
  name: 'connect-headers',
  description: 'CONNECT request headers (gateway) and CONNECT answer headers (client), banner coding',
  maxLen: 4096,
  covers: ['/dist/src/protocol/connect-headers'],
  dictionary: ['\r\n', 'X-CSTP-Address: ', 'X-CSTP-Address-IP6: ', 'X-CSTP-MTU: ', 'X-CSTP-Base-MTU: ', 'X-CSTP-Banner: ', '%0A', '%', 'X-CSTP-DPD: ', 'X-CSTP-Idle-Timeout: none', 'X-DTLS-CipherSuite: ', 'X-DTLS12-CipherSuite: ', 'X-DTLS-Master-Secret: ', 'Cookie: webvpn=', 'X-CSTP-Split-Include: ', 'X-CSTP-Rekey-Time: ', '1e308', 'NaN', '-1', '::1'],
  run(data) {
    const text = data.toString('latin1');
    const h = headersOf(text);
    const req = parseConnectRequest(h);
    if (req.baseMtu !== undefined) check(Number.isInteger(req.baseMtu) && req.baseMtu >= 0 && req.baseMtu <= 999999, `baseMtu ${req.baseMtu}`);
    if (req.mtu !== undefined) check(Number.isInteger(req.mtu) && req.mtu >= 0 && req.mtu <= 999999, `mtu ${req.mtu}`);
    const p = allowing([ConnectResponseError], () => parseConnectResponse(h));
    if (p) {
      check(Number.isInteger(p.mtu) && p.mtu >= 68 && p.mtu <= 65535, `mtu ${p.mtu}`);
      check(p.dpd >= 0 && Number.isFinite(p.dpd) && p.keepalive >= 0 && Number.isFinite(p.keepalive), 'dpd/keepalive');
      // What the gateway formats from these parameters reads back the same (both roles share them).
      const again = allowing([ConnectResponseError], () => parseConnectResponse(new HttpHeaders(formatConnectResponseHeaders(p))));
      if (again && !/[\r\n]/.test(JSON.stringify(p))) {
        check(again.mtu === p.mtu && again.address === p.address, 'address/MTU changed after format + parse');
        check((again.banner ?? '') === (p.banner ?? ''), 'banner changed after format + parse');
      }
    }
    // Banner coding: decode(encode(s)) is s (for text that survives UTF-8, i.e. no lone surrogates).
    const s = Buffer.from(data.toString('utf8'), 'utf8').toString('utf8');
    const enc = encodeBanner(s);
    check(!/[\r\n\x00-\x1f\x7f-\uffff]/.test(enc), 'encoded banner is not one safe header line');
    check(decodeBanner(enc) === s, 'banner does not survive encode + decode');
    // Text without '%' is not changed by decoding (other gateways may send raw UTF-8).
    const plain = s.replace(/%/g, '');
    check(decodeBanner(plain) === plain, 'decoding changed a banner without any %-escape');
  },
};
