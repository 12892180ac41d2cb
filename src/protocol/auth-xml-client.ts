/**
 * `<config-auth>` documents, client side (PROTOCOL.md §2): read what a gateway sends
 * (auth-request forms, complete, legacy bare `<auth>`, `<client-cert-request/>`) and build what
 * the client answers (init, auth-reply, logout). The gateway side lives in auth-xml.ts.
 *
 * Pure: no I/O. The form-filling policy (what to ask the user) lives in src/client/forms.ts;
 * this module only knows the wire rules of §2.4 (renames, group-select, opaque echo, ASA
 * challenge rules, ocserv's substring password match).
 */
import { child, el, parseXml, xmlDocument, type XmlElement, XmlError } from './xml.js';

export class GatewayAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GatewayAuthError';
  }
}

export interface FormOption {
  /** what is sent back (`value`, or the option text when absent, §2.3) */
  value: string;
  /** what is shown */
  label: string;
  selected: boolean;
}

export type FormField =
  | {
      kind: 'input';
      /** text, password, hidden, sso, ... (submit/reset are dropped while parsing) */
      type: string;
      name: string;
      /** `label`, or "name:" when missing (§2.3) */
      label: string;
      /** server-provided value (hidden inputs echo it unchanged) */
      value?: string;
    }
  | { kind: 'select'; name: string; label: string; options: FormOption[] };

export interface AuthForm {
  /** `<auth id>`: main, challenge, passwd (ocserv v3), anything but success means "a form follows" */
  authId: string;
  title?: string;
  message?: string;
  banner?: string;
  /** failure text for the previous submission (§2.6.8) */
  error?: string;
  /** POST target; undefined = the current URL (§1.2 item 8) */
  action?: string;
  fields: FormField[];
  /** `<authentication-complete/>`: nothing to fill, just POST again (§2.3) */
  authenticationComplete: boolean;
  /** SAML/SSO login URL (§2.6.7); we cannot do SSO, but can say so */
  ssoLogin?: string;
}

export interface ProfileEntry {
  uri: string;
  /** hex SHA-1 as the gateway wrote it (compare case-insensitively) */
  sha1: string;
}

/** Everything the client needs from one gateway response body. */
export interface GatewayAuthDoc {
  /** config-auth@type (auth-request, complete); 'legacy' for a bare `<auth>` document */
  type: string;
  /** a bare `<auth>` without `<config-auth>`: the pre-aggregate-auth format (§2.1, §2.7) */
  legacy: boolean;
  gatewayVersion?: string;
  /** `<auth id="success">` present: the only success signal (§2.6.8, quirk 33) */
  success: boolean;
  /** the form, when the document has an `<auth>` that is not success */
  form?: AuthForm;
  /** the last `<opaque>` verbatim, to echo (§2.2) */
  opaque?: XmlElement;
  clientCertRequest: boolean;
  multipleCertRequest: boolean;
  /** `<error>` anywhere (inside `<auth>` or under the root) */
  error?: string;
  /** success extras */
  sessionId?: string;
  sessionToken?: string;
  serverCertHash?: string;
  banner?: string;
  message?: string;
  title?: string;
  profile?: ProfileEntry;
}

/**
 * Text of a `<message>`/`<error>`/`<banner>` with `%s` replaced in order by param1/param2
 * (`auth.c` xmlnode_msg, §2.1). Returns undefined for an empty template.
 */
export function templateText(e: XmlElement | undefined): string | undefined {
  if (!e) return undefined;
  const fmt = e.text.trim();
  if (!fmt) return undefined;
  const params = [e.attrs['param1'], e.attrs['param2']];
  let n = 0;
  return fmt.replace(/%s/g, (m) => (n < 2 ? (params[n++] ?? m) : m)).trim() || undefined;
}

function parseForm(form: XmlElement): { fields: FormField[]; action?: string } {
  const fields: FormField[] = [];
  for (const c of form.children) {
    if (c.name === 'select') {
      const name = c.attrs['name'];
      if (!name) continue;
      const options: FormOption[] = [];
      for (const o of c.children) {
        if (o.name !== 'option') continue;
        const label = o.text.trim();
        options.push({ value: o.attrs['value'] ?? label, label, selected: (o.attrs['selected'] ?? '').toLowerCase() === 'true' });
      }
      fields.push({ kind: 'select', name, label: c.attrs['label'] ?? `${name}:`, options });
    } else if (c.name === 'input') {
      const type = (c.attrs['type'] ?? '').toLowerCase();
      const name = c.attrs['name'];
      if (!type || !name || type === 'submit' || type === 'reset') continue;
      const f: FormField = { kind: 'input', type, name, label: c.attrs['label'] ?? `${name}:` };
      if (c.attrs['value'] !== undefined) f.value = c.attrs['value'];
      fields.push(f);
    }
  }
  const out: { fields: FormField[]; action?: string } = { fields };
  const action = form.attrs['action'];
  if (action !== undefined) {
    // openconnect refuses a method other than POST and an empty action (`auth.c` parse_auth_node).
    const method = form.attrs['method'];
    if (method !== undefined && method.toUpperCase() !== 'POST') throw new GatewayAuthError(`the gateway's form uses method ${method}; only POST is supported`);
    if (action === '') throw new GatewayAuthError('the gateway\'s form has an empty action');
    out.action = action;
  }
  return out;
}

function parseAuthNode(auth: XmlElement): AuthForm {
  const form: AuthForm = { authId: auth.attrs['id'] ?? '', fields: [], authenticationComplete: false };
  for (const c of auth.children) {
    switch (c.name) {
      case 'title': {
        const t = templateText(c);
        if (t) form.title = t;
        break;
      }
      case 'message': {
        const t = templateText(c);
        if (t) form.message = t;
        break;
      }
      case 'banner': {
        const t = templateText(c);
        if (t) form.banner = t;
        break;
      }
      case 'error': {
        const t = templateText(c);
        if (t) form.error = t;
        break;
      }
      case 'form': {
        const { fields, action } = parseForm(c);
        form.fields.push(...fields);
        if (action !== undefined) form.action = action;
        break;
      }
      case 'authentication-complete':
        form.authenticationComplete = true;
        break;
      case 'sso-v2-login':
        if (c.text.trim()) form.ssoLogin = c.text.trim();
        break;
      default:
        break;
    }
  }
  return form;
}

/** `<vpn rev="1.0"><file type="profile" service-type="user">` (`auth.c` parse_profile_node). */
function parseProfileManifest(manifest: XmlElement): ProfileEntry | undefined {
  for (const vpn of manifest.children) {
    if (vpn.name !== 'vpn' || vpn.attrs['rev'] !== '1.0') continue;
    for (const f of vpn.children) {
      if (f.name !== 'file' || f.attrs['type'] !== 'profile' || f.attrs['service-type'] !== 'user') continue;
      const uri = child(f, 'uri')?.text.trim();
      const hash = child(f, 'hash');
      const sha1 = hash && (hash.attrs['type'] ?? 'sha1').toLowerCase() === 'sha1' ? hash.text.trim() : undefined;
      if (uri && sha1 && /^[0-9a-fA-F]{40}$/.test(sha1)) return { uri, sha1 };
    }
  }
  return undefined;
}

/**
 * Parses one gateway response body. Throws GatewayAuthError when it is not an auth document
 * at all (not XML, unexpected root) — for the caller, that means "no aggregate-auth v2" (§2.4
 * step 1).
 */
export function parseGatewayAuth(body: string): GatewayAuthDoc {
  const trimmed = body.trimStart();
  if (!trimmed.startsWith('<')) throw new GatewayAuthError('the response is not XML');
  let root: XmlElement;
  try {
    root = parseXml(trimmed);
  } catch (e) {
    throw new GatewayAuthError(e instanceof XmlError ? e.message : 'malformed XML');
  }
  if (root.name === 'auth') {
    // Legacy / "openconnect v3" format: the `<auth>` node is the whole document (§2.1).
    const form = parseAuthNode(root);
    const doc: GatewayAuthDoc = { type: 'legacy', legacy: true, success: form.authId === 'success', clientCertRequest: false, multipleCertRequest: false };
    if (!doc.success) doc.form = form;
    if (form.error) doc.error = form.error;
    if (form.banner) doc.banner = form.banner;
    if (form.message) doc.message = form.message;
    return doc;
  }
  if (root.name !== 'config-auth') throw new GatewayAuthError(`unexpected XML root <${root.name}>`);
  const doc: GatewayAuthDoc = { type: root.attrs['type'] ?? '', legacy: false, success: false, clientCertRequest: false, multipleCertRequest: false };
  for (const c of root.children) {
    switch (c.name) {
      case 'version':
        if (c.text.trim()) doc.gatewayVersion = c.text.trim();
        break;
      case 'opaque':
        doc.opaque = c;
        break;
      case 'client-cert-request':
        doc.clientCertRequest = true;
        break;
      case 'multiple-client-cert-request':
        doc.multipleCertRequest = true;
        break;
      case 'session-id':
        if (c.text.trim()) doc.sessionId = c.text.trim();
        break;
      case 'session-token':
        if (c.text.trim()) doc.sessionToken = c.text.trim();
        break;
      case 'error': {
        const t = templateText(c);
        if (t) doc.error = t;
        break;
      }
      case 'auth': {
        const form = parseAuthNode(c);
        if (form.authId === 'success') {
          doc.success = true;
          if (form.banner) doc.banner = form.banner;
          if (form.message) doc.message = form.message;
          if (form.title) doc.title = form.title;
        } else {
          doc.form = form;
          if (form.error) doc.error = form.error;
        }
        break;
      }
      case 'config': {
        const hash = child(child(c, 'vpn-base-config'), 'server-cert-hash')?.text.trim();
        if (hash) doc.serverCertHash = hash;
        const manifest = child(c, 'vpn-profile-manifest');
        const profile = manifest && parseProfileManifest(manifest);
        if (profile) doc.profile = profile;
        break;
      }
      case 'vpn-profile-manifest': {
        // lenient: some gateways put the manifest directly under the root
        const profile = parseProfileManifest(c);
        if (profile && !doc.profile) doc.profile = profile;
        break;
      }
      default:
        break;
    }
  }
  return doc;
}

/**
 * The `webvpnc` cookie ocserv sets on success (§2.6.10): `bu:/&p:t&iu:1/&sh:<sha1>&fu:<path>&fh:<sha1>`.
 * The profile location is bu+fu (`auth.c` cstp_obtain_cookie). Returns the profile when both
 * fu and fh are present.
 */
export function profileFromWebvpnc(value: string | undefined): ProfileEntry | undefined {
  if (!value) return undefined;
  const fields = new Map<string, string>();
  for (const part of value.split('&')) {
    const colon = part.indexOf(':');
    if (colon > 0) fields.set(part.slice(0, colon), part.slice(colon + 1));
  }
  const fu = fields.get('fu');
  const fh = fields.get('fh');
  if (!fu || !fh || !/^[0-9a-fA-F]{40}$/.test(fh)) return undefined;
  let path: string;
  try {
    path = decodeURIComponent(fu);
  } catch {
    return undefined;
  }
  const base = fields.get('bu') ?? '/';
  const uri = (base.endsWith('/') ? base : base + '/') + path.replace(/^\/+/, '');
  return { uri, sha1: fh };
}

// ---------------------------------------------------------------- client documents

export interface ClientIdentity {
  /** `<version who="vpn">` */
  version: string;
  /** `<device-id>`: must be non-empty for ASA (error 96, quirk 4) */
  deviceId: string;
}

function root(type: string, id: ClientIdentity): XmlElement {
  if (!id.deviceId) throw new RangeError('device-id must not be empty (ASA answers error 96)');
  return el('config-auth', { client: 'vpn', type, 'aggregate-auth-version': '2' }, [
    el('version', { who: 'vpn' }, [id.version]),
    el('device-id', {}, [id.deviceId]),
  ]);
}

export interface InitOptions {
  identity: ClientIdentity;
  /** the URL the user typed (§2.2) */
  groupAccess: string;
  /** group alias, when the user pre-selected one (new init on a group change, §2.4 step 6) */
  groupSelect?: string;
  /** `<client-cert-fail/>`: we have no certificate / ours was refused (§3.2) */
  clientCertFail?: boolean;
}

/**
 * The `init` document (§2.6.1). No SSO auth-methods: we cannot do SSO, and advertising it makes
 * some gateways pick SAML (§2.2).
 */
export function buildInit(o: InitOptions): string {
  const r = root('init', o.identity);
  r.children.push(el('group-access', {}, [o.groupAccess]));
  if (o.clientCertFail) r.children.push(el('client-cert-fail'));
  if (o.groupSelect !== undefined) r.children.push(el('group-select', {}, [o.groupSelect]));
  return xmlDocument(r);
}

/** What the user (or the options) filled in, by field name. */
export type FormValues = Map<string, string>;

export interface AuthReplyParts {
  /** children of `<auth>`, in form order, after the renames of §2.4; `secret` = a password input */
  auth: Array<{ name: string; value: string; secret: boolean }>;
  /** `<group-select>` (from the group_list select), omitted in challenge rounds */
  groupSelect?: string;
}

/**
 * Maps a filled form to the reply's parts (§2.4 step 6; `auth.c` xmlpost_append_form_opts):
 * group_list goes to `<group-select>` under the root; answer/whichpin/new_password become
 * `<password>`; verify_pin/verify_password are checked locally and not sent. In an ASA
 * challenge round (`auth id="challenge"`) only the challenge form's own fields are answered
 * and `<group-select>` is not sent again (ASA error 15 otherwise, §2.4).
 */
export function replyParts(form: AuthForm, values: FormValues): AuthReplyParts {
  const out: AuthReplyParts = { auth: [] };
  const challenge = form.authId === 'challenge';
  for (const f of form.fields) {
    const v = values.get(f.name) ?? (f.kind === 'input' ? (f.value ?? '') : '');
    if (f.name === 'group_list') {
      if (!challenge) out.groupSelect = v;
      continue;
    }
    if (f.name === 'verify_pin' || f.name === 'verify_password') continue;
    const name = f.name === 'answer' || f.name === 'whichpin' || f.name === 'new_password' ? 'password' : f.name;
    out.auth.push({ name, value: v, secret: f.kind === 'input' && f.type === 'password' });
  }
  return out;
}

/** Element names ocserv's substring scan takes for the password (`worker-auth.c` match_password_in_reply). */
function looksLikePassword(name: string): boolean {
  const n = name.toLowerCase();
  return n.startsWith('password') || n.endsWith('_password');
}

function containsPasswordElement(e: XmlElement): boolean {
  return e.children.some((c) => looksLikePassword(c.name) || containsPasswordElement(c));
}

export interface AuthReplyOptions {
  identity: ClientIdentity;
  parts: AuthReplyParts;
  /** the gateway's last `<opaque>`, echoed verbatim (§2.2) */
  opaque?: XmlElement;
  /** replace the values of password-like fields (for --dump-http-traffic) */
  redact?: boolean;
}

/**
 * The `auth-reply` document (§2.6.5): version, device-id, opaque, auth, group-select, as
 * openconnect orders them. ocserv finds the password by a substring scan of the body, so when
 * the echoed opaque itself holds a password-like element, `<auth>` goes first (§2.1: never put
 * a password element before the real one); XML-parsing gateways do not care about order.
 */
export function buildAuthReply(o: AuthReplyOptions): string {
  const r = root('auth-reply', o.identity);
  const auth = el(
    'auth',
    {},
    o.parts.auth.map((f) => el(f.name, {}, [o.redact && (f.secret || looksLikePassword(f.name)) ? '********' : f.value])),
  );
  if (o.opaque && containsPasswordElement(o.opaque)) r.children.push(auth, o.opaque);
  else if (o.opaque) r.children.push(o.opaque, auth);
  else r.children.push(auth);
  if (o.parts.groupSelect !== undefined) r.children.push(el('group-select', {}, [o.parts.groupSelect]));
  return xmlDocument(r);
}

/** AnyConnect's logout POST (§2.6.13). */
export function buildLogout(sessionToken: string): string {
  return xmlDocument(el('config-auth', { client: 'vpn', type: 'logout' }, [el('session-token', {}, [sessionToken])]));
}
