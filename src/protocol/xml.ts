/**
 * A tiny element tree over fast-xml-parser, shared by both roles. Order is preserved (a client
 * must echo `<opaque>` verbatim, §2.2) and limits are enforced before the library sees the text.
 */
import { XMLBuilder, XMLParser, XMLValidator } from './fast-xml-parser.js';

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** concatenated direct text content */
  text: string;
}

export interface XmlLimits {
  maxBytes: number;
  maxDepth: number;
  maxElements: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = { maxBytes: 64 * 1024, maxDepth: 16, maxElements: 2000 };

export class XmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XmlError';
  }
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  preserveOrder: true,
  processEntities: true,
  htmlEntities: false,
  trimValues: false,
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: false,
});

/** preserveOrder node: { tag: children[], ':@'?: attrs } or { '#text': string } */
type OrderedNode = Record<string, unknown>;

function convert(nodes: OrderedNode[], depth: number, budget: { left: number }, limits: XmlLimits): { elements: XmlElement[]; text: string } {
  if (depth > limits.maxDepth) throw new XmlError(`XML nested deeper than ${limits.maxDepth}`);
  const elements: XmlElement[] = [];
  let text = '';
  for (const node of nodes) {
    for (const key of Object.keys(node)) {
      if (key === ':@') continue;
      if (key === '#text') {
        text += String(node[key]);
        continue;
      }
      if (--budget.left < 0) throw new XmlError(`XML has more than ${limits.maxElements} elements`);
      const attrsRaw = (node[':@'] ?? {}) as Record<string, unknown>;
      const attrs: Record<string, string> = {};
      for (const [k, v] of Object.entries(attrsRaw)) attrs[k] = String(v);
      const inner = convert((node[key] ?? []) as OrderedNode[], depth + 1, budget, limits);
      elements.push({ name: key, attrs, children: inner.elements, text: inner.text });
    }
  }
  return { elements, text };
}

/**
 * Parses one document and returns its root element. Throws XmlError on oversize input, a DTD
 * (no document we exchange has one; refusing it removes entity-expansion bombs outright),
 * malformed XML, or excess depth/elements.
 */
export function parseXml(text: string, limits: XmlLimits = DEFAULT_XML_LIMITS): XmlElement {
  if (Buffer.byteLength(text) > limits.maxBytes) throw new XmlError(`XML document larger than ${limits.maxBytes} bytes`);
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new XmlError('XML with a DTD is not accepted');
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new XmlError(`malformed XML: ${valid.err.msg} (line ${valid.err.line})`);
  let nodes: OrderedNode[];
  try {
    nodes = parser.parse(text) as OrderedNode[];
  } catch (e) {
    throw new XmlError(`malformed XML: ${(e as Error).message}`);
  }
  const { elements } = convert(nodes, 0, { left: limits.maxElements }, limits);
  if (elements.length !== 1) throw new XmlError('XML must have exactly one root element');
  return elements[0]!;
}

/** First child with this name. */
export function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

/** Text of the first descendant path, e.g. childText(root, 'auth', 'username'). */
export function childText(el: XmlElement | undefined, ...path: string[]): string | undefined {
  let cur = el;
  for (const p of path) cur = child(cur, p);
  return cur?.text;
}

export function el(name: string, attrs: Record<string, string> = {}, children: Array<XmlElement | string> = []): XmlElement {
  const e: XmlElement = { name, attrs, children: [], text: '' };
  for (const c of children) {
    if (typeof c === 'string') e.text += c;
    else e.children.push(c);
  }
  return e;
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  preserveOrder: true,
  suppressEmptyNode: false,
  format: false,
  processEntities: true,
});

function toOrdered(e: XmlElement): OrderedNode {
  const kids: OrderedNode[] = [];
  if (e.text) kids.push({ '#text': e.text });
  for (const c of e.children) kids.push(toOrdered(c));
  const node: OrderedNode = { [e.name]: kids };
  const attrs = Object.entries(e.attrs);
  if (attrs.length) node[':@'] = Object.fromEntries(attrs.map(([k, v]) => ['@_' + k, v]));
  return node;
}

/** Serialises an element (no declaration). */
export function serializeXml(e: XmlElement): string {
  return builder.build([toOrdered(e)]) as string;
}

/**
 * A whole document: the declaration at byte 0, as openconnect requires (it compares the first
 * five bytes with "<?xml", PROTOCOL.md §10.1 item 2), and a trailing newline like ocserv.
 */
export function xmlDocument(root: XmlElement): string {
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + serializeXml(root) + '\n';
}
