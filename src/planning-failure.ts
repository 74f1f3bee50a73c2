import { decodeErrorFields } from '../protocol/backend-decoders.js';
import * as be from '../protocol/backend-encoders.js';
import * as fe from '../protocol/frontend-encoders.js';
import type { PgError } from '../protocol/pg-error.js';
import { frameOf } from './frame-of.js';
import type { Frame } from '../protocol/frame-reader.js';
import { quoteLiteral } from './session-params.js';

/**
 * A planning error (a bad DocFusion call) that must also fail upstream: inside a transaction
 * block Postgres would abort the transaction, and in an extended-protocol batch it would abort
 * the batch's implicit transaction (undoing the batch's earlier statements). So the refused Query
 * or Parse is replaced by a statement that Postgres itself rejects at the same stage (parse
 * analysis, after its aborted-transaction check), and the client is shown the proxy's own error
 * in place of Postgres's, exactly once. When Postgres rejects the statement for another reason
 * (25P02 in a transaction that had already failed), its error goes to the client as it is.
 *
 * The statement casts a marker literal to int4: it can never succeed, needs no object in the
 * database, fails with 22P02 quoting the literal, and leaves a readable line in the server log.
 */
const MARKER = 'DocFusion planning error';

/** The SQL sent upstream in place of a refused statement. */
export function failingSql(error: PgError): string {
  return `SELECT ${quoteLiteral(`${MARKER} ${error.code}: ${error.message}`)}::pg_catalog.int4`;
}

/** The Query that fails upstream in place of a refused Query. */
export function failingQuery(error: PgError): Frame {
  return frameOf(fe.query(failingSql(error)));
}

/**
 * The Parse that fails upstream in place of a refused Parse: the client's statement name (a
 * failed Parse defines nothing, in Postgres as here), no parameter types.
 */
export function failingParse(name: string, error: PgError): Frame {
  return frameOf(fe.parse(name, failingSql(error)));
}

/**
 * For the reply slot of the failing statement: the proxy's ErrorResponse in place of the error
 * Postgres raised for the marker, undefined for any other error (forwarded as it is).
 */
export function replacementFor(error: PgError): (body: Buffer) => Buffer | undefined {
  const bytes = be.errorFromPgError(error);
  return (body) => {
    const fields = decodeErrorFields(body);
    return fields.code === '22P02' && fields.message.includes(MARKER) ? bytes : undefined;
  };
}
