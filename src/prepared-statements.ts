import { createHash } from 'node:crypto';
import { FrontendCode } from '../protocol/message-codes.js';
import { BufferWriter } from '../protocol/buffer-writer.js';

/** A client's named protocol-level statement, and what it is called upstream. */
export interface ClientStatement {
  readonly sql: string;
  readonly paramTypes: readonly number[];
  /** Proxy-wide name: the same text and parameter types share one name on every connection. */
  readonly upstreamName: string;
}

/**
 * Named prepared statements in transaction pooling: a client's statement names live here, and
 * each upstream connection prepares the proxy-wide name lazily, when a client's Bind or Describe
 * lands on it (after PgBouncer 1.21 and PgDog).
 */
export class ClientStatements {
  /** Made at the first definition: most clients never name a statement. */
  private byName: Map<string, ClientStatement> | undefined;

  define(name: string, sql: string, paramTypes: readonly number[]): ClientStatement {
    const statement = { sql, paramTypes, upstreamName: upstreamStatementName(sql, paramTypes) };
    (this.byName ??= new Map()).set(name, statement);
    return statement;
  }

  get(name: string): ClientStatement | undefined {
    return this.byName?.get(name);
  }

  delete(name: string): boolean {
    return this.byName?.delete(name) ?? false;
  }

  clear(): void {
    this.byName?.clear();
  }

  get size(): number {
    return this.byName?.size ?? 0;
  }
}

export function upstreamStatementName(sql: string, paramTypes: readonly number[]): string {
  const hash = createHash('sha256')
    .update(sql)
    .update('\0')
    .update(paramTypes.join(','))
    .digest('hex');
  return `docfusion_${hash.slice(0, 32)}`;
}

/** Which proxy-named statements one upstream connection has prepared, least recently used first. */
export class ConnectionStatements {
  private readonly names = new Map<string, true>();

  has(name: string): boolean {
    return this.names.has(name);
  }

  /** Mark as used now. */
  touch(name: string): void {
    if (this.names.delete(name)) this.names.set(name, true);
  }

  add(name: string): void {
    this.names.delete(name);
    this.names.set(name, true);
  }

  delete(name: string): void {
    this.names.delete(name);
  }

  /** Names to close so that one more fits under `max`. */
  evictionsFor(max: number): string[] {
    const out: string[] = [];
    const excess = this.names.size + 1 - max;
    for (const name of this.names.keys()) {
      if (out.length >= excess) break;
      out.push(name);
    }
    return out;
  }

  clear(): void {
    this.names.clear();
  }

  get size(): number {
    return this.names.size;
  }
}

/** A Parse frame for `statement` under its upstream name. */
export function parseFrame(statement: ClientStatement): Buffer {
  const writer = new BufferWriter(statement.sql.length + 64)
    .cstring(statement.upstreamName)
    .cstring(statement.sql)
    .int16(statement.paramTypes.length);
  for (const oid of statement.paramTypes) writer.int32(oid | 0);
  return writer.frame(FrontendCode.Parse);
}

/** A Bind body with its statement name replaced (portal name and the rest kept byte for byte). */
export function renameBind(body: Buffer, upstreamName: string): Buffer {
  const portalEnd = body.indexOf(0);
  const statementEnd = body.indexOf(0, portalEnd + 1);
  return frame(FrontendCode.Bind, [
    body.subarray(0, portalEnd + 1),
    Buffer.from(upstreamName + '\0'),
    body.subarray(statementEnd + 1),
  ]);
}

/** A Describe or Close of statement `upstreamName`. */
export function statementTargetFrame(type: number, upstreamName: string): Buffer {
  return frame(type, [Buffer.from('S' + upstreamName + '\0')]);
}

function frame(type: number, parts: Buffer[]): Buffer {
  const length = 4 + parts.reduce((sum, part) => sum + part.length, 0);
  const header = Buffer.alloc(5);
  header[0] = type;
  header.writeInt32BE(length, 1);
  return Buffer.concat([header, ...parts]);
}
