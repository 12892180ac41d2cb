/** IPv6 text to its groups, shared by the gateway's address keys and the client's interface lookup. */

/** The eight 16-bit groups of a valid IPv6 text (checked by isIPv6 before). */
export function ipv6Groups(text: string): number[] {
  let s = text;
  const tail: number[] = [];
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    s = s.slice(0, v4.index);
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
  }
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const dbl = s.indexOf('::');
  let groups: number[];
  if (dbl >= 0) {
    const head = parse(s.slice(0, dbl));
    const rest = parse(s.slice(dbl + 2));
    const zeros = 8 - tail.length - head.length - rest.length;
    groups = [...head, ...new Array<number>(Math.max(0, zeros)).fill(0), ...rest];
  } else groups = parse(s);
  return [...groups, ...tail];
}
