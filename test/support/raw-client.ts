/**
 * A minimal raw wire-protocol client for tests that need exact control of what is pipelined:
 * trust login, send any frames (protocol/frontend-encoders.ts), read replies up to ReadyForQuery.
 */
import net from 'node:net';
import {
  decodeBackendKeyData,
  decodeCommandComplete,
  decodeDataRow,
  decodeErrorFields,
} from '../../protocol/backend-decoders.js';
import { FrameReader, Frame } from '../../protocol/frame-reader.js';
import * as fe from '../../protocol/frontend-encoders.js';

export class RawClient {
  private readonly reader = new FrameReader({ maxMessageSize: 1 << 30 });
  private readonly frames: Frame[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  processId = 0;
  secretKey: Buffer = Buffer.alloc(0);

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let frame = this.reader.next(); frame; frame = this.reader.next()) {
        this.frames.push(copyFrame(frame));
      }
      this.wake?.();
    });
    const end = (): void => {
      this.closed = true;
      this.wake?.();
    };
    socket.on('close', end);
    socket.on('error', end);
  }

  /** Connect and log in (the proxy must use auth trust); fails on an ErrorResponse. */
  static async connect(port: number, params: Record<string, string>): Promise<RawClient> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
    const client = new RawClient(socket);
    client.send(fe.startupMessage(params));
    const login = await client.readUntilReady();
    const error = login.find((m) => m.type === 'E');
    if (error) throw new Error(`login failed: ${summarize(error)}`);
    const key = login.find((m) => m.type === 'K');
    if (key) {
      const decoded = decodeBackendKeyData(key.body);
      client.processId = decoded.processId;
      client.secretKey = decoded.secretKey;
    }
    return client;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** The next message (waits up to `timeoutMs`). */
  async next(timeoutMs = 20_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.frames.shift();
      if (frame) return frame;
      if (this.closed) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a backend message');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    }
  }

  /** Messages up to and including the next ReadyForQuery, as `Msg`s. */
  async readUntilReady(timeoutMs = 20_000): Promise<Msg[]> {
    const out: Msg[] = [];
    for (;;) {
      const frame = await this.next(timeoutMs);
      const msg = { type: String.fromCharCode(frame.type), body: frame.body };
      out.push(msg);
      if (msg.type === 'Z') return out;
    }
  }

  /** Send frames, then read up to ReadyForQuery; returns the messages. */
  async readReply(...frames: Buffer[]): Promise<Msg[]> {
    this.send(...frames);
    return this.readUntilReady();
  }

  /** Send frames, then read up to ReadyForQuery; returns the summaries (see `summarize`). */
  async roundTrip(...frames: Buffer[]): Promise<string[]> {
    this.send(...frames);
    return (await this.readUntilReady()).filter((m) => !'NSA'.includes(m.type)).map(summarize);
  }

  close(): void {
    if (!this.closed) this.socket.end(fe.terminate());
    this.socket.destroy();
  }
}

export interface Msg {
  readonly type: string;
  readonly body: Buffer;
}

/**
 * A short text for a backend message: `D:<first column>`, `C:<tag>`, `E:<SQLSTATE>`,
 * `Z:<status>`, otherwise the type letter ('1' ParseComplete, '2' BindComplete, 'T', 't', 'n', '3').
 */
export function summarize(msg: Msg): string {
  switch (msg.type) {
    case 'D': {
      const first = decodeDataRow(msg.body)[0];
      return `D:${first === null || first === undefined ? 'NULL' : first.toString('utf8')}`;
    }
    case 'C':
      return `C:${decodeCommandComplete(msg.body)}`;
    case 'E':
      return `E:${decodeErrorFields(msg.body).code}`;
    case 'Z':
      return `Z:${String.fromCharCode(msg.body[0] ?? 0)}`;
    default:
      return msg.type;
  }
}

/** A frame that owns its bytes (received chunks are views the reader may drop). */
function copyFrame(frame: Frame): Frame {
  const raw = Buffer.from(frame.raw);
  return new Frame(frame.type, raw, 0, raw.length, frame.headerLength);
}
