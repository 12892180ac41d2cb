/**
 * Turns a QR code drawn in a terminal (half blocks ▀ ▄ █ and spaces, with ANSI colours, as the
 * `qrcode` package's small terminal renderer draws it) back into the picture a phone camera
 * would see, as a PGM image for zbarimg (Debian's zbar-tools) to scan. A small terminal
 * emulator: it follows the colour escapes (30/37 foreground, 40/47 background, 0 reset) and
 * gives the cells the terminal's own background where no colour is set.
 */

type Colour = 'dark' | 'light' | 'default';

/** Rows of pixels (true = dark), two per text line, one column per character. */
export function terminalToPixels(text: string, terminalBackground: 'dark' | 'light'): boolean[][] {
  let fg: Colour = 'default';
  let bg: Colour = 'default';
  const rows: boolean[][] = [];
  let top: boolean[] = [];
  let bottom: boolean[] = [];
  const dark = (c: Colour, isForeground: boolean): boolean => {
    if (c === 'default') return isForeground ? terminalBackground === 'light' : terminalBackground === 'dark';
    return c === 'dark';
  };
  const flush = (): void => {
    if (top.length) rows.push(top, bottom);
    top = [];
    bottom = [];
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\x1b') {
      const m = /^\x1b\[(\d+)m/.exec(text.slice(i));
      if (!m) throw new Error(`unexpected escape at ${i}: ${JSON.stringify(text.slice(i, i + 8))}`);
      const code = Number(m[1]);
      if (code === 0) fg = bg = 'default';
      else if (code === 30) fg = 'dark';
      else if (code === 37) fg = 'light';
      else if (code === 40) bg = 'dark';
      else if (code === 47) bg = 'light';
      else throw new Error(`unexpected colour code ${code}`);
      i += m[0].length - 1;
      continue;
    }
    if (ch === '\n') {
      flush();
      continue;
    }
    const f = dark(fg, true);
    const b = dark(bg, false);
    if (ch === ' ') top.push(b), bottom.push(b);
    else if (ch === '█') top.push(f), bottom.push(f);
    else if (ch === '▀') top.push(f), bottom.push(b);
    else if (ch === '▄') top.push(b), bottom.push(f);
    else throw new Error(`unexpected character ${JSON.stringify(ch)} in the QR code`);
  }
  flush();
  return rows;
}

/**
 * A binary PGM of the pixels, each `scale` x `scale`, with `margin` pixels of the terminal's
 * background around them (what surrounds the code on the screen).
 */
export function pixelsToPgm(rows: boolean[][], terminalBackground: 'dark' | 'light', scale = 6, margin = 4): Buffer {
  const width = Math.max(...rows.map((r) => r.length));
  const W = (width + 2 * margin) * scale;
  const H = (rows.length + 2 * margin) * scale;
  const back = terminalBackground === 'dark' ? 0 : 255;
  const img = Buffer.alloc(W * H, back);
  rows.forEach((row, y) => {
    for (let x = 0; x < width; x++) {
      const isDark = row[x] ?? terminalBackground === 'dark';
      for (let dy = 0; dy < scale; dy++) img.fill(isDark ? 0 : 255, ((y + margin) * scale + dy) * W + (x + margin) * scale, ((y + margin) * scale + dy) * W + (x + margin + 1) * scale);
    }
  });
  return Buffer.concat([Buffer.from(`P5\n${W} ${H}\n255\n`), img]);
}
