import { describe, expect, it } from 'vitest';
import { FrameReader, MAX_STARTUP_PACKET, type Frame } from '../../../protocol/frame-reader.js';
import * as fe from '../../../protocol/frontend-encoders.js';
import { PgError } from '../../../protocol/pg-error.js';

const MAX = 1 << 20;

/** A stream whose first frame is untyped, then typed frames (one empty, one large). */
function stream(large = 300): Buffer[] {
  return [
    fe.startupMessage({ user: 'alice', database: 'db' }),
    fe.query('SELECT 1'),
    fe.sync(), // zero-length body
    fe.parse('s1', 'SELECT $1::int', [23]),
    fe.bind({ statement: 's1', params: ['x'.repeat(large)] }),
    fe.terminate(),
  ];
}

/** Feeds `chunks`, switching to typed framing after the first frame, and collects frames. */
function readAll(chunks: readonly Buffer[], maxMessageSize = MAX): Frame[] {
  const reader = new FrameReader({ maxMessageSize, untyped: true });
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let frame = reader.next(); frame !== null; frame = reader.next()) frames.push(frame);
  }
  if (reader.buffered !== 0) throw new Error(`${reader.buffered} bytes left over`);
  return frames;
}

/** True when the frames are exactly `messages` (the first one untyped). Cheap: no expect(). */
function identical(frames: readonly Frame[], messages: readonly Buffer[]): boolean {
  if (frames.length !== messages.length) return false;
  return frames.every((f, i) => {
    const raw = messages[i] ?? Buffer.alloc(0);
    const type = i === 0 ? 0 : (raw[0] ?? -1);
    const body = raw.subarray(i === 0 ? 4 : 5);
    return f.type === type && f.body.equals(body) && f.raw.equals(raw);
  });
}

function same(frames: readonly Frame[], messages: readonly Buffer[]): void {
  expect(identical(frames, messages)).toBe(true);
}

function cuts(all: Buffer, points: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(Buffer.from(all.subarray(prev, p)));
    prev = p;
  }
  out.push(Buffer.from(all.subarray(prev)));
  return out;
}

function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PgError);
    return (error as PgError).code;
  }
  throw new Error('expected a PgError');
}

describe('FrameReader', () => {
  it('returns every frame whatever the single cut point', () => {
    const messages = stream(5000);
    const all = Buffer.concat(messages);
    const bad: number[] = [];
    for (let cut = 0; cut <= all.length; cut++) {
      if (!identical(readAll(cuts(all, [cut])), messages)) bad.push(cut);
    }
    expect(bad).toEqual([]);
  });

  it('returns every frame whatever the pair of cut points (small stream)', () => {
    const messages = stream(20);
    const all = Buffer.concat(messages);
    const bad: [number, number][] = [];
    for (let a = 0; a <= all.length; a++) {
      for (let b = a; b <= all.length; b++) {
        if (!identical(readAll(cuts(all, [a, b])), messages)) bad.push([a, b]);
      }
    }
    expect(bad).toEqual([]);
  });

  it('handles one byte per chunk', () => {
    const messages = stream(1000);
    const all = Buffer.concat(messages);
    same(readAll([...all].map((b) => Buffer.from([b]))), messages);
  });

  it('handles many frames in one chunk', () => {
    const messages = [fe.startupMessage({ user: 'u' })];
    for (let i = 0; i < 500; i++) messages.push(i % 2 === 0 ? fe.query(`SELECT ${i}`) : fe.flush());
    same(readAll([Buffer.concat(messages)]), messages);
  });

  it('returns null until a whole frame arrived', () => {
    const reader = new FrameReader({ maxMessageSize: MAX });
    const q = fe.query('SELECT 1');
    reader.push(q.subarray(0, 4));
    expect(reader.next()).toBeNull();
    reader.push(q.subarray(4, q.length - 1));
    expect(reader.next()).toBeNull();
    reader.push(q.subarray(q.length - 1));
    expect(reader.next()?.raw.equals(q)).toBe(true);
    expect(reader.next()).toBeNull();
  });

  it('rejects a frame over the size limit with 08P01, from its header alone', () => {
    const reader = new FrameReader({ maxMessageSize: 100 });
    reader.push(fe.query('x'.repeat(200)).subarray(0, 5));
    expect(errorCode(() => reader.next())).toBe('08P01');
  });

  it('accepts a frame exactly at the limit', () => {
    const q = fe.query('x'.repeat(50));
    const reader = new FrameReader({ maxMessageSize: q.length });
    reader.push(q);
    expect(reader.next()?.raw.length).toBe(q.length);
  });

  it('rejects a typed length below 4 with 08P01', () => {
    for (const length of [-1, 0, 3, -0x80000000]) {
      const reader = new FrameReader({ maxMessageSize: MAX });
      const header = Buffer.alloc(5);
      header[0] = 0x51;
      header.writeInt32BE(length, 1);
      reader.push(header);
      expect(errorCode(() => reader.next())).toBe('08P01');
    }
  });

  it('rejects a startup length below 8 or above the limit with 08P01', () => {
    for (const length of [-1, 0, 4, 7, MAX_STARTUP_PACKET + 1, 0x7fffffff]) {
      const reader = new FrameReader({ maxMessageSize: MAX, untyped: true });
      const header = Buffer.alloc(8);
      header.writeInt32BE(length, 0);
      reader.push(header);
      expect(errorCode(() => reader.next())).toBe('08P01');
    }
  });

  it('accepts startup packets of 8 and of MAX_STARTUP_PACKET bytes', () => {
    for (const length of [8, MAX_STARTUP_PACKET]) {
      const reader = new FrameReader({ maxMessageSize: MAX, untyped: true });
      const packet = Buffer.alloc(length);
      packet.writeInt32BE(length, 0);
      reader.push(packet);
      expect(reader.next()?.body.length).toBe(length - 4);
    }
  });

  it('goes back to untyped framing on expectUntyped() (after an SSLRequest)', () => {
    const messages = [fe.sslRequest(), fe.startupMessage({ user: 'u' }), fe.query('SELECT 1')];
    const reader = new FrameReader({ maxMessageSize: MAX, untyped: true });
    reader.push(Buffer.concat(messages));
    expect(reader.next()?.raw.equals(messages[0] ?? Buffer.alloc(0))).toBe(true);
    reader.expectUntyped();
    const startup = reader.next();
    expect(startup?.type).toBe(0);
    expect(startup?.raw.equals(messages[1] ?? Buffer.alloc(0))).toBe(true);
    expect(reader.next()?.type).toBe(0x51);
  });
});
