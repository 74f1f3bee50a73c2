/**
 * A raw wire-protocol connection for the differential suite: logs in (trust, cleartext, md5 or
 * SCRAM-SHA-256) and then exchanges whole frames, so both sides (Postgres directly and the
 * proxy) are observed byte for byte, never through a driver's decoding.
 */
import net from 'node:net';
import {
  decodeAuthentication,
  decodeErrorFields,
  decodeReadyForQuery,
} from '../../protocol/backend-decoders.js';
import { FrameReader } from '../../protocol/frame-reader.js';
import * as fe from '../../protocol/frontend-encoders.js';
import { md5Challenge, md5PasswordHash } from '../../protocol/md5.js';
import { ScramClientSession } from '../../protocol/scram.js';

/** One backend message: its type letter and body (a private copy). */
export interface WireMessage {
  readonly type: string;
  readonly body: Buffer;
}

export interface WireLogin {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** Further startup parameters (TimeZone, DateStyle, application_name, ...). */
  readonly params?: Readonly<Record<string, string>>;
}

const READ_TIMEOUT_MS = 10_000;

export class WireConnection {
  private readonly reader = new FrameReader({ maxMessageSize: 1 << 30 });
  private readonly queue: WireMessage[] = [];
  private wake: (() => void) | undefined;
  private closedWith: string | undefined;
  /** Transaction status of the last ReadyForQuery ('I', 'T' or 'E'). */
  txStatus = 'I';
  /** ParameterStatus and NoticeResponse messages of the login (BackendKeyData left out). */
  readonly loginMessages: WireMessage[] = [];

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let f = this.reader.next(); f; f = this.reader.next()) {
        this.queue.push({ type: String.fromCharCode(f.type), body: Buffer.from(f.body) });
      }
      this.wake?.();
    });
    socket.on('error', (error) => {
      this.closedWith ??= `socket error: ${error.message}`;
      this.wake?.();
    });
    socket.on('close', () => {
      this.closedWith ??= 'connection closed';
      this.wake?.();
    });
  }

  static async open(login: WireLogin): Promise<WireConnection> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: login.host, port: login.port }, () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
    const conn = new WireConnection(socket);
    try {
      await conn.login(login);
    } catch (error) {
      conn.close();
      throw error;
    }
    return conn;
  }

  private async login(login: WireLogin): Promise<void> {
    this.send(
      fe.startupMessage({
        user: login.user,
        database: login.database,
        ...login.params,
      }),
    );
    let scram: ScramClientSession | undefined;
    for (;;) {
      const msg = await this.next();
      if (msg.type === 'E') {
        const f = decodeErrorFields(msg.body);
        throw new Error(`login to ${login.port}/${login.database} failed: ${f.code} ${f.message}`);
      }
      if (msg.type === 'Z') {
        this.txStatus = String.fromCharCode(decodeReadyForQuery(msg.body));
        return;
      }
      if (msg.type === 'S' || msg.type === 'N') this.loginMessages.push(msg);
      if (msg.type !== 'R') continue; // ParameterStatus, BackendKeyData, notices
      const auth = decodeAuthentication(msg.body);
      switch (auth.kind) {
        case 'ok':
          break;
        case 'cleartext':
          this.send(fe.passwordMessage(login.password));
          break;
        case 'md5':
          this.send(
            fe.passwordMessage(
              md5Challenge(md5PasswordHash(login.user, login.password), auth.salt),
            ),
          );
          break;
        case 'sasl':
          scram = new ScramClientSession({ password: login.password });
          this.send(fe.saslInitialResponse('SCRAM-SHA-256', scram.clientFirstMessage()));
          break;
        case 'sasl-continue':
          if (!scram) throw new Error('SASLContinue before SASL');
          this.send(fe.saslResponse(scram.handleServerFirst(auth.data)));
          break;
        case 'sasl-final':
          if (!scram) throw new Error('SASLFinal before SASL');
          scram.verifyServerFinal(auth.data);
          break;
        default:
          throw new Error(`unsupported authentication request ${auth.code}`);
      }
    }
  }

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  private async next(timeoutMs = READ_TIMEOUT_MS): Promise<WireMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const msg = this.queue.shift();
      if (msg) return msg;
      if (this.closedWith !== undefined) throw new Error(this.closedWith);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no backend message within ${timeoutMs} ms`);
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

  /**
   * Send `frames`, then read every message up to and including the `readies`-th ReadyForQuery.
   * A CopyInResponse is answered with CopyFail (the corpus only copies out), followed by Sync
   * for the extended protocol (Postgres ignores a Sync sent during COPY IN, and after the
   * CopyFail error it skips to the next Sync).
   */
  async exchange(frames: readonly Buffer[], readies = 1, extended = false): Promise<WireMessage[]> {
    this.send(...frames);
    const out: WireMessage[] = [];
    let seen = 0;
    while (seen < readies) {
      let msg: WireMessage;
      try {
        msg = await this.next();
      } catch (error) {
        // Out of step with the server now: later statements must not read this one's replies.
        this.close();
        throw error;
      }
      out.push(msg);
      if (msg.type === 'G') {
        const fail = fe.copyFail('the differential harness sends no COPY data');
        if (extended) this.send(fail, fe.sync());
        else this.send(fail);
      }
      if (msg.type === 'Z') {
        seen++;
        this.txStatus = String.fromCharCode(decodeReadyForQuery(msg.body));
      }
    }
    return out;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  close(): void {
    if (this.closedWith === undefined) this.socket.end(fe.terminate());
    this.socket.destroy();
  }
}
