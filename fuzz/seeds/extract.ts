/**
 * Builds the seed corpus (fuzz/corpus/<target>/) from the reference transcripts of real
 * openconnect <-> ocserv sessions (../shared/reference/transcripts/, or the folder given):
 *
 *   node dist/fuzz/seeds/extract.js [TRANSCRIPT_DIR]
 *
 *   '> ' lines        client requests (request line, headers, blank, body) -> http-request,
 *                     and their XML / form bodies -> auth-xml-gateway, xml
 *   'Got HTTP/CONNECT response:' + header lines + '< ' body lines -> http-response,
 *                     CONNECT answers -> connect-headers, XML bodies -> auth-xml-client, xml
 *   'Decrypted TLS (N bytes):' hex dumps in *-wire.txt -> cstp (CSTP frames)
 *
 * Content-Length is recomputed (the transcripts print bodies without their CRLFs). Files are
 * named by content hash, so re-running is idempotent. DTLS seeds are made in code instead
 * (fuzz/targets/dtls-seeds.ts): the transcripts hold dissections, not datagram bytes.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const src = resolve(process.argv[2] ?? join(repo, '../shared/reference/transcripts'));
const out = join(repo, 'fuzz/corpus');
const counts = new Map<string, number>();

function put(target: string, from: string, data: Buffer): void {
  const dir = join(out, target);
  mkdirSync(dir, { recursive: true });
  const name = `${from}-${createHash('sha1').update(data).digest('hex').slice(0, 12)}`;
  writeFileSync(join(dir, name), data);
  counts.set(target, (counts.get(target) ?? 0) + 1);
}

/** Head lines + body -> HTTP message bytes with a correct Content-Length. */
function message(head: string[], body: string): Buffer {
  const lines = head.filter((l) => !/^content-length:/i.test(l));
  if (body.length > 0 || /^(POST|HTTP)/.test(head[0] ?? '')) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'utf8');
}

function requests(from: string, lines: string[]): void {
  for (let i = 0; i < lines.length; i++) {
    const m = /^> ?(.*)$/.exec(lines[i]!);
    if (!m || !/^[A-Z]+ \S+ HTTP\/1\.[01]$/.test(m[1]!)) continue;
    const head: string[] = [m[1]!];
    let j = i + 1;
    for (; j < lines.length && /^> \S/.test(lines[j]!); j++) head.push(lines[j]!.slice(2));
    j++; // the blank '>' line
    const body: string[] = [];
    for (; j < lines.length && lines[j]!.startsWith('> ') && !/^> [A-Z]+ \S+ HTTP\/1\.[01]$/.test(lines[j]!); j++) body.push(lines[j]!.slice(2));
    const text = body.join('\n');
    put('http-request', from, Buffer.concat([Buffer.from([0]), message(head, text)]));
    if (head[0]!.startsWith('CONNECT')) put('connect-headers', from, Buffer.from(head.slice(1).join('\r\n')));
    if (text) {
      put('auth-xml-gateway', from, Buffer.from(text));
      if (text.trimStart().startsWith('<')) put('xml', from, Buffer.from(text));
    }
    i = j - 1;
  }
}

function responses(from: string, lines: string[]): void {
  for (let i = 0; i < lines.length; i++) {
    const m = /^Got (HTTP|CONNECT) response: (HTTP\/1\.[01] .*)$/.exec(lines[i]!);
    if (!m) continue;
    const head: string[] = [m[2]!];
    let j = i + 1;
    for (; j < lines.length && /^[A-Za-z0-9-]+: /.test(lines[j]!); j++) head.push(lines[j]!);
    const body: string[] = [];
    while (j < lines.length && !lines[j]!.startsWith('< ') && !lines[j]!.startsWith('Got ') && j < i + 40) j++;
    for (; j < lines.length && lines[j]!.startsWith('< '); j++) body.push(lines[j]!.slice(2));
    const text = body.join('\n');
    const connect = m[1] === 'CONNECT';
    put('http-response', from, Buffer.concat([Buffer.from([connect ? 0x80 : 0]), message(head, connect ? '' : text)]));
    if (connect) put('connect-headers', from, Buffer.from(head.slice(1).join('\r\n')));
    if (text && !connect) {
      put('auth-xml-client', from, Buffer.from(text));
      put('xml', from, Buffer.from(text));
    }
  }
}

function hexDumps(from: string, lines: string[]): void {
  for (let i = 0; i < lines.length; i++) {
    if (!/^Decrypted TLS \(\d+ bytes\):/.test(lines[i]!)) continue;
    const bytes: number[] = [];
    for (let j = i + 1; j < lines.length && /^[0-9a-f]{4}  /.test(lines[j]!); j++) {
      for (const h of lines[j]!.slice(6, 6 + 16 * 3).trim().split(/\s+/)) if (/^[0-9a-f]{2}$/.test(h)) bytes.push(parseInt(h, 16));
    }
    if (bytes.length) put('cstp', from, Buffer.concat([Buffer.from([0, 1]), Buffer.from(bytes)]));
  }
}

for (const f of readdirSync(src).filter((n) => n.endsWith('.txt')).sort()) {
  const lines = readFileSync(join(src, f), 'utf8').split('\n');
  const from = basename(f, '.txt');
  requests(from, lines);
  responses(from, lines);
  hexDumps(from, lines);
}
for (const [t, n] of [...counts].sort()) console.log(`${t}: ${n} seeds (before de-duplication)`);
