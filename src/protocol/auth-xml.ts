/**
 * `<config-auth>` documents, gateway side (PROTOCOL.md §2): read what clients send (init,
 * auth-reply, logout; also the legacy form-urlencoded body, §2.7) and build what the gateway
 * answers (auth-request forms, complete). The client side lives in auth-xml-client.ts.
 */
import { child, childText, el, parseXml, xmlDocument, type XmlElement, XmlError } from './xml.js';

export class AuthXmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthXmlError';
  }
}

interface ClientInfo {
  /** `<version who="vpn">` */
  version?: string;
  /** `<device-id>` text (platform token) */
  deviceId?: string;
  /** `<group-select>`: the group alias the client chose */
  groupSelect?: string;
}

export type ClientAuthDoc =
  | (ClientInfo & { type: 'init'; groupAccess?: string; clientCertFail: boolean })
  | (ClientInfo & {
      type: 'auth-reply';
      /** form fields by input name (children of `<auth>`) */
      fields: Map<string, string>;
      opaque?: XmlElement;
      /** true when the body was form-urlencoded (legacy flow) */
      legacy: boolean;
    })
  | { type: 'logout'; sessionToken?: string };

/** Parses a POST body from a client. Throws AuthXmlError with a message fit for a log. */
export function parseClientAuth(body: string): ClientAuthDoc {
  const trimmed = body.trimStart();
  // Detect XML by its first byte, never by Content-Type (§1.3: AnyConnect sends XML as
  // application/x-www-form-urlencoded).
  if (!trimmed.startsWith('<')) return parseLegacyForm(body);
  let root: XmlElement;
  try {
    root = parseXml(trimmed);
  } catch (e) {
    throw new AuthXmlError(e instanceof XmlError ? e.message : 'malformed XML');
  }
  if (root.name !== 'config-auth') throw new AuthXmlError(`unexpected root element <${root.name}>`);
  const type = root.attrs['type'];
  const info: ClientInfo = {};
  const version = childText(root, 'version');
  if (version !== undefined) info.version = version.trim();
  const deviceId = childText(root, 'device-id');
  if (deviceId !== undefined) info.deviceId = deviceId.trim();
  const group = childText(root, 'group-select');
  if (group !== undefined && group.trim() !== '') info.groupSelect = group.trim();
  switch (type) {
    case 'init': {
      const doc: ClientAuthDoc = { ...info, type: 'init', clientCertFail: child(root, 'client-cert-fail') !== undefined };
      const access = childText(root, 'group-access');
      if (access !== undefined) doc.groupAccess = access.trim();
      return doc;
    }
    case 'auth-reply': {
      const fields = new Map<string, string>();
      for (const f of child(root, 'auth')?.children ?? []) if (!fields.has(f.name)) fields.set(f.name, f.text);
      const doc: ClientAuthDoc = { ...info, type: 'auth-reply', fields, legacy: false };
      const opaque = child(root, 'opaque');
      if (opaque) doc.opaque = opaque;
      return doc;
    }
    case 'logout': {
      const doc: ClientAuthDoc = { type: 'logout' };
      const token = childText(root, 'session-token');
      if (token) doc.sessionToken = token.trim();
      return doc;
    }
    default:
      throw new AuthXmlError(`unsupported config-auth type ${JSON.stringify(type ?? null)}`);
  }
}

/** Legacy (non-XML) POST: username=..&password=..&group_list=.. (§2.7). */
function parseLegacyForm(body: string): ClientAuthDoc {
  const params = new URLSearchParams(body);
  const fields = new Map<string, string>();
  for (const [k, v] of params) if (!fields.has(k)) fields.set(k, v);
  if (fields.size === 0) return { type: 'init', clientCertFail: false };
  const doc: ClientAuthDoc = { type: 'auth-reply', fields, legacy: true };
  // ocserv accepts the escaped spelling group%5flist too (§2.7); URLSearchParams decodes it.
  const group = fields.get('group_list');
  if (group) doc.groupSelect = group;
  return doc;
}

export interface GroupOption {
  /** value sent back in `<group-select>` */
  name: string;
  /** text shown to the user (openconnect matches --authgroup against it or the value) */
  label: string;
}

export interface FormInput {
  type: 'text' | 'password' | 'hidden';
  name: string;
  label?: string;
  value?: string;
}

export interface AuthRequestDoc {
  /** `<auth id>`: "main" for the login form, "challenge" for a follow-up prompt (OTP) */
  authId: 'main' | 'challenge' | 'passwd-change';
  title?: string;
  message: string;
  banner?: string;
  /** failure text for the previous submission (§2.6.8) */
  error?: string;
  inputs: FormInput[];
  groups?: GroupOption[];
  selectedGroup?: string;
  /** state the client echoes (§2.3) */
  opaque?: XmlElement;
  action?: string;
  gatewayVersion: string;
}

/** The gateway's form (§2.6.3/2.6.4): exactly one option carries selected="true". */
export function buildAuthRequest(d: AuthRequestDoc): string {
  const auth = el('auth', { id: d.authId });
  if (d.title) auth.children.push(el('title', {}, [d.title]));
  auth.children.push(el('message', {}, [d.message]));
  if (d.banner) auth.children.push(el('banner', {}, [d.banner]));
  // id 88 is what ASA uses for "Login failed" (§2.6.8); clients treat the id as opaque.
  if (d.error) auth.children.push(el('error', { id: '88', param1: '', param2: '' }, [d.error]));
  const form = el('form', { method: 'post', action: d.action ?? '/' });
  for (const i of d.inputs) {
    const attrs: Record<string, string> = { type: i.type, name: i.name };
    if (i.label !== undefined) attrs['label'] = i.label;
    if (i.value !== undefined) attrs['value'] = i.value;
    form.children.push(el('input', attrs));
  }
  if (d.groups && d.groups.length > 0) {
    const selected = d.groups.some((g) => g.name === d.selectedGroup) ? d.selectedGroup : d.groups[0]!.name;
    const select = el('select', { name: 'group_list', label: 'GROUP:' });
    for (const g of d.groups) {
      select.children.push(el('option', g.name === selected ? { value: g.name, selected: 'true' } : { value: g.name }, [g.label]));
    }
    form.children.push(select);
  }
  auth.children.push(form);
  const root = el('config-auth', { client: 'vpn', type: 'auth-request', 'aggregate-auth-version': '2' }, [el('version', { who: 'sg' }, [d.gatewayVersion])]);
  if (d.opaque) root.children.push(d.opaque);
  root.children.push(auth);
  return xmlDocument(root);
}

const MAX_HANDLE = 64;

/**
 * The gateway's `<opaque is-for="sg">` for a follow-up form: `<auth-handle>` binds the answer to
 * the waiting login, as ASA does in challenge rounds (§2.6.6); clients echo it verbatim.
 */
export function handleOpaque(handle: string): XmlElement {
  return el('opaque', { 'is-for': 'sg' }, [el('auth-handle', {}, [handle])]);
}

/** The handle from an echoed opaque, if it has a sane one. */
export function authHandleOf(opaque: XmlElement | undefined): string | undefined {
  const h = opaque ? childText(opaque, 'auth-handle')?.trim() : undefined;
  return h && h.length <= MAX_HANDLE && /^[A-Za-z0-9_-]+$/.test(h) ? h : undefined;
}

export interface ProfileManifestEntry {
  uri: string;
  /** upper-case hex SHA-1 of the exact bytes served */
  sha1: string;
}

export interface AuthCompleteDoc {
  sessionId: string;
  sessionToken: string;
  /** upper-case hex SHA-1 of the gateway's DER certificate (§2.5) */
  serverCertHash: string;
  banner?: string;
  profile?: ProfileManifestEntry;
  gatewayVersion: string;
}

/** The success document (§2.6.9 shape; token also goes in Set-Cookie, §2.6.10 recommendation). */
export function buildAuthComplete(d: AuthCompleteDoc): string {
  const auth = el('auth', { id: 'success' }, [el('message', { id: '0', param1: '', param2: '' }, ['Success'])]);
  if (d.banner) auth.children.push(el('banner', {}, [d.banner]));
  const config = el('config', { client: 'vpn', type: 'private' }, [
    el('vpn-base-config', {}, [el('server-cert-hash', {}, [d.serverCertHash])]),
  ]);
  if (d.profile) {
    config.children.push(
      el('vpn-profile-manifest', {}, [
        el('vpn', { rev: '1.0' }, [
          el('file', { type: 'profile', 'service-type': 'user' }, [el('uri', {}, [d.profile.uri]), el('hash', { type: 'sha1' }, [d.profile.sha1])]),
        ]),
      ]),
    );
  }
  const root = el('config-auth', { client: 'vpn', type: 'complete', 'aggregate-auth-version': '2' }, [
    el('version', { who: 'sg' }, [d.gatewayVersion]),
    el('session-id', {}, [d.sessionId]),
    el('session-token', {}, [d.sessionToken]),
    auth,
    el('capabilities', {}, [el('crypto-supported', {}, ['ssl-dhe'])]),
    config,
  ]);
  return xmlDocument(root);
}
