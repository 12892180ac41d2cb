/**
 * Small string parsers that see peer input: the profile path match (profile.ts, a client's GET),
 * the Cookie header (http.ts parseCookies), IPv4/CIDR text from CONNECT answers (ipv4.ts).
 */
import { formatCidr, formatIpv4, parseIpv4, parseIpv4Cidr } from '../../src/protocol/ipv4.js';
import { parseCookies } from '../../src/protocol/http.js';
import { isProfileRequest } from '../../src/protocol/profile.js';
import { check, type FuzzTarget } from './target.js';

export const profile: FuzzTarget = {
  name: 'profile',
  description: 'profile GET path match, Cookie header, IPv4/CIDR text',
  maxLen: 1024,
  covers: ['/dist/src/protocol/profile', '/dist/src/protocol/ipv4', '/dist/src/protocol/http'],
  dictionary: ['/profiles/', 'profile.xml', '%2F', '%', ':443', '?', 'webvpn=', '; ', '=', '10.0.0.1', '/24', '/255.255.255.0', '.', '256'],
  run(data) {
    const text = data.toString('latin1');
    // The path is the client's; the profile URI comes from the gateway's own config.
    isProfileRequest(text, '/profiles/profile.xml');
    isProfileRequest(text, '/profiles/my%20profile.xml');
    for (const [k, v] of parseCookies(text)) check(!k.includes(';') && !v.includes(';'), 'cookie split');
    const ip = parseIpv4(text);
    if (ip !== null) {
      check(Number.isInteger(ip) && ip >= 0 && ip <= 0xffffffff, `ip ${ip}`);
      check(parseIpv4(formatIpv4(ip)) === ip, 'IPv4 format + parse');
    }
    const cidr = parseIpv4Cidr(text);
    if (cidr) check(parseIpv4Cidr(formatCidr(cidr))?.prefix === cidr.prefix, 'CIDR format + parse');
  },
};
