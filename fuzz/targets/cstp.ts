/**
 * The CSTP decoder (src/protocol/cstp.ts): never throws, reports a typed error and stops, and
 * the frames do not depend on how the stream was cut into TLS records.
 */
import { CstpDecoder, CstpError, encodeCstp, CSTP_HEADER_LEN, CSTP_MAX_PAYLOAD } from '../../src/protocol/cstp.js';
import { check, cuts, type FuzzTarget } from './target.js';

interface Outcome {
  frames: Buffer[];
  error: CstpError | null;
}

function decode(chunks: Buffer[], maxPayload: number): Outcome {
  const frames: Buffer[] = [];
  const dec = new CstpDecoder((type, buf, start, end) => {
    check(start >= 0 && end <= buf.length && end - start <= maxPayload, `frame view [${start},${end}) of ${buf.length}, limit ${maxPayload}`);
    frames.push(encodeCstp(type, Buffer.from(buf.subarray(start, end))));
  }, maxPayload);
  let error: CstpError | null = null;
  for (const c of chunks) {
    const e = dec.push(c);
    if (e) {
      check(e instanceof CstpError, 'push returned something that is not a CstpError');
      check(error === null || error === e, 'a second, different error after the decoder stopped');
      error = e;
    }
  }
  check(dec.error === error, 'decoder.error disagrees with what push returned');
  return { frames, error };
}

export const cstp: FuzzTarget = {
  name: 'cstp',
  description: 'CSTP frame decoder (any chunking; frames re-encode to the input bytes)',
  maxLen: 8192,
  covers: ['/dist/src/protocol/cstp'],
  dictionary: ['STF\x01', 'STF\x01\x00\x00\x03\x00', 'STF\x01\x00\x00\x07\x00', 'STF\x01\x00\x01\x05\x00\xb0', '\x3f\xf8', '\x00\x00'],
  run(data) {
    const stream = data.subarray(2);
    const maxPayload = data[1]! & 1 ? CSTP_MAX_PAYLOAD : 64 + (data[1] ?? 0);
    const whole = decode([stream], maxPayload);
    const split = decode(cuts(stream, data[0] ?? 0), maxPayload);
    check((whole.error?.code ?? null) === (split.error?.code ?? null), `error ${whole.error?.code} whole vs ${split.error?.code} in chunks`);
    check(whole.frames.length === split.frames.length, `${whole.frames.length} frames whole vs ${split.frames.length} in chunks`);
    const wire = Buffer.concat(whole.frames);
    check(Buffer.concat(split.frames).equals(wire), 'frames differ whole vs in chunks');
    // Frames are the stream: re-encoding them gives back a prefix of the input.
    check(stream.subarray(0, wire.length).equals(wire), 'decoded frames do not re-encode to the input');
    if (!whole.error) check(stream.length - wire.length < CSTP_HEADER_LEN + maxPayload, 'bytes left over that should have formed a frame');
  },
};
