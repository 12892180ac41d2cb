/**
 * Aggregate-auth XML on both sides: the shared element tree (src/protocol/xml.ts), what the
 * gateway reads from clients (auth-xml.ts parseClientAuth, incl. the legacy form body) and what
 * the client reads from gateways (auth-xml-client.ts parseGatewayAuth: forms, profile manifest).
 */
import { AuthXmlError, parseClientAuth } from '../../src/protocol/auth-xml.js';
import { GatewayAuthError, parseGatewayAuth, profileFromWebvpnc, templateText } from '../../src/protocol/auth-xml-client.js';
import { el, parseXml, serializeXml, xmlDocument, XmlError, type XmlElement, type XmlLimits } from '../../src/protocol/xml.js';
import { allowing, check, type FuzzTarget } from './target.js';

const XML_DICT = ['<?xml version="1.0" encoding="UTF-8"?>', '<config-auth client="vpn" type="', 'auth-reply', 'auth-request', 'init', 'logout', 'complete', '">', '</config-auth>', '<auth id="main">', '<auth id="success">', '</auth>', '<form method="post" action="/auth">', '</form>', '<input type="password" name="password" label="Password:" />', '<select name="group_list" label="GROUP:">', '<option value="a" selected="true">A</option>', '</select>', '<opaque is-for="sg">', '</opaque>', '<username>', '</username>', '<group-select>', '<session-token>', '<error id="88" param1="x">%s</error>', '<vpn-profile-manifest><vpn rev="1.0"><file type="profile" service-type="user"><uri>/profiles/p.xml</uri><hash type="sha1">', '</hash></file></vpn></vpn-profile-manifest>', '<!DOCTYPE', '<![CDATA[', ']]>', '&amp;', '&#x41;', '&#65;', '&lt;', '<!--', '-->', '<?pi ?>', ' a="1"', "'", '"', '<', '>', '/>', '='];

const SMALL: XmlLimits = { maxBytes: 2048, maxDepth: 6, maxElements: 40 };

function depthAndCount(e: XmlElement, depth = 0): { depth: number; count: number } {
  let d = depth;
  let n = 1;
  for (const c of e.children) {
    const r = depthAndCount(c, depth + 1);
    d = Math.max(d, r.depth);
    n += r.count;
  }
  return { depth: d, count: n };
}

/** Text that XML 1.0 can carry in an element or attribute (Char production, no CR: it is normalised). */
function xmlSafe(s: string): string {
  return s.replace(/[^\t\n\x20-\ud7ff\ue000-\ufffd]/gu, '');
}

export const xml: FuzzTarget = {
  name: 'xml',
  description: 'the XML element tree over fast-xml-parser: limits, and build -> parse round trip',
  maxLen: 4096,
  covers: ['/dist/src/protocol/xml', '/node_modules/fast-xml-parser/'],
  dictionary: XML_DICT,
  run(data) {
    const text = data.toString('utf8');
    const root = allowing([XmlError], () => parseXml(text, SMALL));
    if (root) {
      const { depth, count } = depthAndCount(root);
      check(depth <= SMALL.maxDepth, `depth ${depth} > ${SMALL.maxDepth}`);
      check(count <= SMALL.maxElements, `${count} elements > ${SMALL.maxElements}`);
    }
    // Values the gateway and client put into documents (user names, passwords, group names,
    // messages) must come back unchanged: escaping is complete.
    const parts = xmlSafe(text).split('\u0000').join('').split('|');
    const value = parts[0] ?? '';
    const attr = parts[1] ?? '';
    const doc = el('config-auth', { client: 'vpn', type: 'auth-reply', label: attr }, [el('auth', {}, [el('username', {}, [value]), el('password', {}, [attr])])]);
    const back = parseXml(xmlDocument(doc));
    check(back.attrs['label'] === attr, `attribute ${JSON.stringify(attr)} came back as ${JSON.stringify(back.attrs['label'])}`);
    const auth = back.children.find((c) => c.name === 'auth');
    check(auth?.children[0]?.text === value, `text ${JSON.stringify(value)} came back as ${JSON.stringify(auth?.children[0]?.text)}`);
    check(serializeXml(back) === serializeXml(doc), 'serialise(parse(serialise(doc))) differs');
  },
};

export const authXmlGateway: FuzzTarget = {
  name: 'auth-xml-gateway',
  description: 'gateway side: parseClientAuth (init, auth-reply, logout, legacy form bodies)',
  maxLen: 4096,
  covers: ['/dist/src/protocol/auth-xml.js', '/dist/src/protocol/xml', '/node_modules/fast-xml-parser/'],
  dictionary: [...XML_DICT, 'username=', '&password=', '&group_list=', 'group%5flist=', '%', '+'],
  run(data) {
    const doc = allowing([AuthXmlError], () => parseClientAuth(data.toString('utf8')));
    if (doc?.type === 'auth-reply') {
      for (const [k, v] of doc.fields) check(typeof k === 'string' && typeof v === 'string', 'field is not a string');
    }
  },
};

export const authXmlClient: FuzzTarget = {
  name: 'auth-xml-client',
  description: 'client side: parseGatewayAuth (forms, selects, opaque, profile manifest), webvpnc cookie',
  maxLen: 4096,
  covers: ['/dist/src/protocol/auth-xml-client', '/dist/src/protocol/xml', '/node_modules/fast-xml-parser/'],
  dictionary: [...XML_DICT, 'bu:/&p:t&iu:1/&sh:', '&fu:', '&fh:', '0123456789abcdef0123456789abcdef01234567'],
  run(data) {
    const text = data.toString('utf8');
    const doc = allowing([GatewayAuthError], () => parseGatewayAuth(text));
    if (doc) {
      check(typeof doc.success === 'boolean', 'success is not a boolean');
      if (doc.form) for (const f of doc.form.fields) check(f.name.length > 0, 'form field without a name');
      if (doc.profile) check(/^[0-9a-fA-F]{40}$/.test(doc.profile.sha1), 'profile hash is not 40 hex digits');
    }
    const p = profileFromWebvpnc(text);
    if (p) check(/^[0-9a-fA-F]{40}$/.test(p.sha1), 'webvpnc profile hash');
    templateText(el('message', { param1: text.slice(0, 8), param2: text.slice(8, 16) }, [text]));
  },
};
