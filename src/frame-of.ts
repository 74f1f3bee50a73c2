import { Frame } from '../protocol/frame-reader.js';

/** A frame made by the proxy (a rewritten Query, Parse or Bind, an injected Describe). */
export function frameOf(bytes: Buffer): Frame {
  return new Frame(bytes[0] ?? 0, bytes, 0, bytes.length);
}

/** The bytes of a frame given its type and body. */
export function rawFrame(type: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(body.length + 5);
  out[0] = type;
  out.writeInt32BE(body.length + 4, 1);
  body.copy(out, 5);
  return out;
}
