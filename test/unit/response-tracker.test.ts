import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import pino from 'pino';
import { BackendCode } from '../../protocol/message-codes.js';
import { decodeErrorFields } from '../../protocol/backend-decoders.js';
import * as be from '../../protocol/backend-encoders.js';
import * as fe from '../../protocol/frontend-encoders.js';
import { Frame } from '../../protocol/frame-reader.js';
import {
  isFatal,
  ResponseTracker,
  type BackendVerdict,
  type Expectation,
  type Slot,
} from '../../src/response-tracker.js';
import { UpstreamConnection } from '../../src/upstream-connection.js';
import { parseUpstreamUrl } from '../../src/upstream-target.js';

const B = BackendCode;

/** A slot whose onDone calls are recorded in `log` as `${label}:${ok}`. */
function slot(
  expect: Expectation,
  log: string[],
  label: string = expect,
  extra: { hidden?: boolean; synthetic?: Buffer } = {},
): Slot {
  return {
    expect,
    ...extra,
    onDone: (ok) => {
      log.push(`${label}:${ok}`);
    },
  };
}

/** The body (after type and length) of an ErrorResponse with this severity, as Postgres sends it. */
function errorBody(
  severity: 'ERROR' | 'FATAL' | 'PANIC',
  message = 'boom',
  code = 'XX000',
): Buffer {
  return be.errorResponse({ severity, code, message }).subarray(5);
}
const EMPTY = Buffer.alloc(0);
const ERROR = errorBody('ERROR');
const FATAL = errorBody('FATAL', 'terminating connection due to administrator command', '57P01');

/** Feed backend message types (ErrorResponses as plain ERRORs); verdicts and `busy` after each. */
function feed(
  tracker: ResponseTracker,
  types: readonly number[],
): { verdicts: BackendVerdict[]; busy: boolean[] } {
  const verdicts: BackendVerdict[] = [];
  const busy: boolean[] = [];
  for (const type of types) {
    verdicts.push(tracker.onBackend(type, type === B.ErrorResponse ? ERROR : EMPTY));
    busy.push(tracker.busy);
  }
  return { verdicts, busy };
}

function allForwardedPlain(verdicts: readonly BackendVerdict[]): void {
  for (const verdict of verdicts) {
    expect(verdict.forward).toBe(true);
    expect(verdict.after).toBeUndefined();
  }
}

/** busy is true after every message but the last, false after the last. */
function busyUntilLast(busy: readonly boolean[]): void {
  expect(busy.slice(0, -1).every((b) => b)).toBe(true);
  expect(busy.at(-1)).toBe(false);
}

describe('ResponseTracker: simple Query', () => {
  test('rows: RowDescription, DataRows, CommandComplete, ReadyForQuery; done only at ReadyForQuery', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    expect(tracker.busy).toBe(false);
    expect(tracker.push(slot('query', log))).toBeUndefined();
    expect(tracker.busy).toBe(true);
    const seq = [B.RowDescription, B.DataRow, B.DataRow, B.CommandComplete];
    const { verdicts, busy } = feed(tracker, seq);
    allForwardedPlain(verdicts);
    expect(busy).toEqual([true, true, true, true]);
    expect(log).toEqual([]);
    const end = feed(tracker, [B.ReadyForQuery]);
    allForwardedPlain(end.verdicts);
    expect(end.busy).toEqual([false]);
    expect(log).toEqual(['query:true']);
    expect(tracker.size).toBe(0);
  });

  test('multi-statement Query: several result sets, one ReadyForQuery', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('query', log));
    const seq = [
      B.RowDescription,
      B.DataRow,
      B.CommandComplete,
      B.CommandComplete, // e.g. SET
      B.RowDescription,
      B.DataRow,
      B.DataRow,
      B.CommandComplete,
      B.ReadyForQuery,
    ];
    const { verdicts, busy } = feed(tracker, seq);
    allForwardedPlain(verdicts);
    busyUntilLast(busy);
    expect(log).toEqual(['query:true']);
  });

  test('empty query string: EmptyQueryResponse then ReadyForQuery', () => {
    const tracker = new ResponseTracker();
    tracker.push({ expect: 'query' });
    const { verdicts, busy } = feed(tracker, [B.EmptyQueryResponse, B.ReadyForQuery]);
    allForwardedPlain(verdicts);
    busyUntilLast(busy);
  });

  test('two pipelined Queries complete one per ReadyForQuery', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('query', log, 'q1'));
    tracker.push(slot('query', log, 'q2'));
    feed(tracker, [B.RowDescription, B.DataRow, B.CommandComplete, B.ReadyForQuery]);
    expect(log).toEqual(['q1:true']);
    expect(tracker.size).toBe(1);
    const { busy } = feed(tracker, [B.CommandComplete, B.ReadyForQuery]);
    expect(busy).toEqual([true, false]);
    expect(log).toEqual(['q1:true', 'q2:true']);
  });

  test('an ERROR in a simple Query is forwarded; ReadyForQuery still ends it, later slots kept', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('query', log, 'q1'));
    tracker.push(slot('query', log, 'q2'));
    const { verdicts } = feed(tracker, [B.RowDescription, B.DataRow, B.ErrorResponse]);
    allForwardedPlain(verdicts);
    // A simple-protocol error does not start skip-until-Sync: nothing is dropped.
    expect(tracker.size).toBe(2);
    expect(log).toEqual([]);
    feed(tracker, [B.ReadyForQuery]);
    expect(tracker.size).toBe(1);
    expect(log.map((entry) => entry.split(':')[0])).toEqual(['q1']);
  });

  // Regression (fixed; the old behaviour): Slot.onDone documents "ok false after an ErrorResponse". A failed simple Query (e.g.
  // `SET statement_timeout = 'abc'`, rejected by Postgres with 22023) reports ok=true, so the
  // session applies the failed SET's effect and replays it on the next connection.
  test('a simple Query that got an ErrorResponse completes with ok=false', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('query', log));
    feed(tracker, [B.ErrorResponse, B.ReadyForQuery]);
    expect(log).toEqual(['query:false']);
  });

  test("replaceError: the error it returns goes instead of upstream's; others pass", () => {
    const mine = be.errorResponse({ severity: 'ERROR', code: '22P02', message: 'mine' });
    const replaceError = (body: Buffer): Buffer | undefined =>
      decodeErrorFields(body).code === '22012' ? mine : undefined;
    const tracker = new ResponseTracker();
    tracker.push({ expect: 'query', replaceError });
    const division = errorBody('ERROR', 'division by zero', '22012');
    expect(tracker.errorReplacement(division)).toBe(mine);
    expect(tracker.onBackend(B.ErrorResponse, division)).toEqual({ forward: false, after: [mine] });
    expect(tracker.onBackend(B.ReadyForQuery, EMPTY).forward).toBe(true);
    // An extended-protocol Parse: replaced, and skipping to Sync as usual.
    const log: string[] = [];
    tracker.push({ expect: 'parse', replaceError });
    tracker.push(slot('bind', log));
    tracker.push(slot('sync', log));
    expect(tracker.onBackend(B.ErrorResponse, division)).toEqual({ forward: false, after: [mine] });
    expect(log).toEqual(['bind:false']);
    tracker.onBackend(B.ReadyForQuery, EMPTY);
    expect(log).toEqual(['bind:false', 'sync:true']);
    // Any other error is Postgres's own.
    tracker.push({ expect: 'parse', replaceError });
    const aborted = errorBody('ERROR', 'current transaction is aborted', '25P02');
    expect(tracker.errorReplacement(aborted)).toBeUndefined();
    expect(tracker.onBackend(B.ErrorResponse, aborted)).toEqual({
      forward: true,
      after: undefined,
    });
  });

  test('FunctionCall: FunctionCallResponse then ReadyForQuery', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('function', log));
    const { verdicts, busy } = feed(tracker, [B.FunctionCallResponse, B.ReadyForQuery]);
    allForwardedPlain(verdicts);
    busyUntilLast(busy);
    expect(log).toEqual(['function:true']);
  });

  test('COPY TO STDOUT: CopyOutResponse, CopyData, CopyDone, CommandComplete, ReadyForQuery', () => {
    const tracker = new ResponseTracker();
    tracker.push({ expect: 'query' });
    const seq = [
      B.CopyOutResponse,
      B.CopyData,
      B.CopyData,
      B.CopyDone,
      B.CommandComplete,
      B.ReadyForQuery,
    ];
    const { verdicts, busy } = feed(tracker, seq);
    allForwardedPlain(verdicts);
    busyUntilLast(busy);
    expect(tracker.inCopyIn).toBe(false);
  });
});

describe('ResponseTracker: extended protocol', () => {
  test('Parse/Bind/Describe portal/Execute/Sync: each slot completes at its own reply', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    for (const e of ['parse', 'bind', 'describe', 'execute', 'sync'] as const)
      tracker.push(slot(e, log));
    const steps: [number, string[], number][] = [
      [B.ParseComplete, ['parse:true'], 4],
      [B.BindComplete, ['parse:true', 'bind:true'], 3],
      [B.RowDescription, ['parse:true', 'bind:true', 'describe:true'], 2],
      [B.DataRow, ['parse:true', 'bind:true', 'describe:true'], 2],
      [B.DataRow, ['parse:true', 'bind:true', 'describe:true'], 2],
      [B.CommandComplete, ['parse:true', 'bind:true', 'describe:true', 'execute:true'], 1],
      [
        B.ReadyForQuery,
        ['parse:true', 'bind:true', 'describe:true', 'execute:true', 'sync:true'],
        0,
      ],
    ];
    for (const [type, done, size] of steps) {
      const verdict = tracker.onBackend(type, EMPTY);
      expect(verdict).toEqual({ forward: true, after: undefined });
      expect(log).toEqual(done);
      expect(tracker.size).toBe(size);
    }
    expect(tracker.busy).toBe(false);
  });

  test('Describe of a portal with no result: NoData completes it', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    for (const e of ['bind', 'describe', 'execute', 'sync'] as const) tracker.push(slot(e, log));
    const { verdicts, busy } = feed(tracker, [
      B.BindComplete,
      B.NoData,
      B.CommandComplete,
      B.ReadyForQuery,
    ]);
    allForwardedPlain(verdicts);
    busyUntilLast(busy);
    expect(log).toEqual(['bind:true', 'describe:true', 'execute:true', 'sync:true']);
  });

  test('Describe statement: ParameterDescription then RowDescription; completes at RowDescription', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    for (const e of ['parse', 'describe', 'sync'] as const) tracker.push(slot(e, log));
    tracker.onBackend(B.ParseComplete, EMPTY);
    expect(tracker.onBackend(B.ParameterDescription, EMPTY).forward).toBe(true);
    expect(log).toEqual(['parse:true']); // not yet: RowDescription/NoData still owed
    expect(tracker.size).toBe(2);
    tracker.onBackend(B.RowDescription, EMPTY);
    expect(log).toEqual(['parse:true', 'describe:true']);
    tracker.onBackend(B.ReadyForQuery, EMPTY);
    expect(tracker.busy).toBe(false);
  });

  test('Describe statement: ParameterDescription then NoData', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    for (const e of ['describe', 'sync'] as const) tracker.push(slot(e, log));
    const { verdicts, busy } = feed(tracker, [B.ParameterDescription, B.NoData, B.ReadyForQuery]);
    allForwardedPlain(verdicts);
    expect(busy).toEqual([true, true, false]);
    expect(log).toEqual(['describe:true', 'sync:true']);
  });

  test('Execute with a row limit ends with PortalSuspended; the next Execute continues', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('bind', log));
    tracker.push(slot('execute', log, 'e1'));
    tracker.push(slot('execute', log, 'e2'));
    tracker.push(slot('execute', log, 'e3'));
    tracker.push(slot('sync', log));
    const seq = [
      B.BindComplete,
      B.DataRow,
      B.DataRow,
      B.PortalSuspended,
      B.DataRow,
      B.DataRow,
      B.PortalSuspended,
      B.DataRow,
      B.CommandComplete,
      B.ReadyForQuery,
    ];
    const { verdicts, busy } = feed(tracker, seq);
    allForwardedPlain(verdicts);
    busyUntilLast(busy);
    expect(log).toEqual(['bind:true', 'e1:true', 'e2:true', 'e3:true', 'sync:true']);
  });

  test('Execute of an empty query string: EmptyQueryResponse completes it', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    for (const e of ['parse', 'bind', 'execute', 'sync'] as const) tracker.push(slot(e, log));
    const { busy } = feed(tracker, [
      B.ParseComplete,
      B.BindComplete,
      B.EmptyQueryResponse,
      B.ReadyForQuery,
    ]);
    busyUntilLast(busy);
    expect(log).toEqual(['parse:true', 'bind:true', 'execute:true', 'sync:true']);
  });

  test('Close: CloseComplete completes it', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('close', log));
    tracker.push(slot('sync', log));
    const { verdicts, busy } = feed(tracker, [B.CloseComplete, B.ReadyForQuery]);
    allForwardedPlain(verdicts);
    busyUntilLast(busy);
    expect(log).toEqual(['close:true', 'sync:true']);
  });

  test('ErrorResponse on Bind: Describe and Execute are skipped until Sync (onDone false)', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    for (const e of ['parse', 'bind', 'describe', 'execute', 'sync'] as const)
      tracker.push(slot(e, log));
    tracker.onBackend(B.ParseComplete, EMPTY);
    const error = tracker.onBackend(B.ErrorResponse, ERROR);
    expect(error).toEqual({ forward: true, after: undefined });
    // Postgres sends nothing for the skipped Describe and Execute: their slots are gone.
    expect(log).toEqual(['parse:true', 'bind:false', 'describe:false', 'execute:false']);
    expect(tracker.size).toBe(1);
    expect(tracker.busy).toBe(true);
    tracker.onBackend(B.ReadyForQuery, EMPTY);
    expect(log.at(-1)).toBe('sync:true');
    expect(tracker.busy).toBe(false);
  });

  test('an error in the first of two Sync batches skips only up to the first Sync', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    for (const e of ['parse', 'bind', 'execute', 'sync'] as const)
      tracker.push(slot(e, log, `a-${e}`));
    for (const e of ['parse', 'bind', 'execute', 'sync'] as const)
      tracker.push(slot(e, log, `b-${e}`));
    const { busy } = feed(tracker, [
      B.ErrorResponse, // Parse fails
      B.ReadyForQuery,
      B.ParseComplete,
      B.BindComplete,
      B.DataRow,
      B.CommandComplete,
      B.ReadyForQuery,
    ]);
    busyUntilLast(busy);
    expect(log).toEqual([
      'a-parse:false',
      'a-bind:false',
      'a-execute:false',
      'a-sync:true',
      'b-parse:true',
      'b-bind:true',
      'b-execute:true',
      'b-sync:true',
    ]);
  });

  test('an error with no Sync queued drops everything queued (Flush-driven clients)', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    for (const e of ['parse', 'bind', 'execute'] as const) tracker.push(slot(e, log));
    feed(tracker, [B.ErrorResponse]);
    expect(log).toEqual(['parse:false', 'bind:false', 'execute:false']);
    expect(tracker.busy).toBe(false);
    // The client's Sync then gets its ReadyForQuery.
    tracker.push(slot('sync', log));
    const { busy } = feed(tracker, [B.ReadyForQuery]);
    expect(busy).toEqual([false]);
    expect(log.at(-1)).toBe('sync:true');
  });

  // Regression (fixed; the old behaviour): Postgres keeps discarding every message until a Sync arrives (ignore_till_sync in
  // postgres.c), also messages that reach it after the ErrorResponse was sent. The tracker
  // forgets it is skipping once its queue is empty: a Parse pushed now is never answered,
  // so the slot outlives the ReadyForQuery of the Sync and `busy` stays true for good.
  test('messages sent after an error but before any Sync are skipped too', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('parse', log, 'bad'));
    feed(tracker, [B.ErrorResponse]);
    for (const e of ['parse', 'bind', 'execute', 'sync'] as const) tracker.push(slot(e, log));
    feed(tracker, [B.ReadyForQuery]);
    expect(tracker.busy).toBe(false);
    expect(log).toEqual(['bad:false', 'parse:false', 'bind:false', 'execute:false', 'sync:true']);
  });

  test('error during Sync (COMMIT fails): Execute succeeded, ErrorResponse then ReadyForQuery', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    for (const e of ['parse', 'bind', 'execute', 'sync'] as const) tracker.push(slot(e, log));
    const { verdicts, busy } = feed(tracker, [
      B.ParseComplete,
      B.BindComplete,
      B.CommandComplete,
      B.ErrorResponse,
      B.ReadyForQuery,
    ]);
    allForwardedPlain(verdicts);
    busyUntilLast(busy);
    expect(log.slice(0, 3)).toEqual(['parse:true', 'bind:true', 'execute:true']);
    expect(log).toHaveLength(4);
    expect(log[3]?.startsWith('sync:')).toBe(true);
  });
});

describe('ResponseTracker: COPY FROM STDIN', () => {
  test('simple Query: CopyInResponse starts copy-in; Syncs pushed meanwhile are ignored', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('query', log));
    expect(tracker.inCopyIn).toBe(false);
    expect(tracker.onBackend(B.CopyInResponse, EMPTY)).toEqual({
      forward: true,
      after: undefined,
    });
    expect(tracker.inCopyIn).toBe(true);
    expect(tracker.push({ expect: 'sync' })).toBeUndefined();
    expect(tracker.size).toBe(1);
    tracker.copyEnded();
    expect(tracker.inCopyIn).toBe(false);
    const { verdicts, busy } = feed(tracker, [B.CommandComplete, B.ReadyForQuery]);
    allForwardedPlain(verdicts);
    busyUntilLast(busy);
    expect(log).toEqual(['query:true']);
  });

  test('simple Query: CopyFail gets an ErrorResponse then ReadyForQuery', () => {
    const tracker = new ResponseTracker();
    tracker.push({ expect: 'query' });
    tracker.onBackend(B.CopyInResponse, EMPTY);
    tracker.copyEnded();
    const { busy } = feed(tracker, [B.ErrorResponse, B.ReadyForQuery]);
    busyUntilLast(busy);
  });

  test('extended: the Sync already sent after Execute is dropped at CopyInResponse', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    for (const e of ['parse', 'bind', 'execute', 'sync'] as const)
      tracker.push(slot(e, log, `first-${e}`));
    feed(tracker, [B.ParseComplete, B.BindComplete]);
    expect(tracker.size).toBe(2);
    tracker.onBackend(B.CopyInResponse, EMPTY);
    expect(tracker.inCopyIn).toBe(true);
    expect(tracker.size).toBe(1); // only the Execute is still owed
    // A Sync (or several) sent during copy-in is ignored by Postgres.
    tracker.push({ expect: 'sync' });
    tracker.push({ expect: 'sync' });
    expect(tracker.size).toBe(1);
    tracker.copyEnded();
    tracker.push(slot('sync', log, 'second-sync'));
    expect(tracker.size).toBe(2);
    const { verdicts, busy } = feed(tracker, [B.CommandComplete, B.ReadyForQuery]);
    allForwardedPlain(verdicts);
    busyUntilLast(busy);
    expect(log).toEqual([
      'first-parse:true',
      'first-bind:true',
      'first-execute:true',
      'second-sync:true',
    ]);
  });

  test('extended: an error during copy-in skips to the Sync sent after CopyDone/CopyFail', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    for (const e of ['bind', 'execute', 'sync'] as const) tracker.push(slot(e, log));
    feed(tracker, [B.BindComplete, B.CopyInResponse]);
    tracker.copyEnded();
    tracker.push(slot('sync', log, 'after-copy-sync'));
    const { busy } = feed(tracker, [B.ErrorResponse, B.ReadyForQuery]);
    expect(tracker.inCopyIn).toBe(false);
    busyUntilLast(busy);
    expect(log).toEqual(['bind:true', 'execute:false', 'after-copy-sync:true']);
  });

  test('a server-side error ends copy-in even before the client ends it', () => {
    const tracker = new ResponseTracker();
    tracker.push({ expect: 'query' });
    tracker.onBackend(B.CopyInResponse, EMPTY);
    tracker.onBackend(B.ErrorResponse, ERROR);
    expect(tracker.inCopyIn).toBe(false);
    tracker.onBackend(B.ReadyForQuery, EMPTY);
    expect(tracker.busy).toBe(false);
  });
});

describe('ResponseTracker: hidden slots', () => {
  test("a hidden Parse's ParseComplete is swallowed; the client's replies pass", () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('parse', log, 'hidden-parse', { hidden: true }));
    for (const e of ['bind', 'execute', 'sync'] as const) tracker.push(slot(e, log));
    const { verdicts, busy } = feed(tracker, [
      B.ParseComplete,
      B.BindComplete,
      B.DataRow,
      B.CommandComplete,
      B.ReadyForQuery,
    ]);
    expect(verdicts.map((v) => v.forward)).toEqual([false, true, true, true, true]);
    busyUntilLast(busy);
    expect(log).toEqual(['hidden-parse:true', 'bind:true', 'execute:true', 'sync:true']);
  });

  test("a hidden Close's CloseComplete is swallowed", () => {
    const tracker = new ResponseTracker();
    tracker.push({ expect: 'close', hidden: true });
    tracker.push({ expect: 'close', hidden: true });
    tracker.push({ expect: 'parse', hidden: true });
    tracker.push({ expect: 'describe' });
    tracker.push({ expect: 'sync' });
    const { verdicts, busy } = feed(tracker, [
      B.CloseComplete,
      B.CloseComplete,
      B.ParseComplete,
      B.ParameterDescription,
      B.RowDescription,
      B.ReadyForQuery,
    ]);
    expect(verdicts.map((v) => v.forward)).toEqual([false, false, false, true, true, true]);
    busyUntilLast(busy);
  });

  test("a hidden slot's ErrorResponse reaches the client and starts the skip", () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('parse', log, 'hidden-parse', { hidden: true }));
    for (const e of ['bind', 'execute', 'sync'] as const) tracker.push(slot(e, log));
    const error = tracker.onBackend(B.ErrorResponse, ERROR);
    expect(error.forward).toBe(true);
    expect(log).toEqual(['hidden-parse:false', 'bind:false', 'execute:false']);
    expect(tracker.onBackend(B.ReadyForQuery, EMPTY).forward).toBe(true);
    expect(tracker.busy).toBe(false);
  });

  test('every reply to a hidden Describe and Execute is swallowed', () => {
    const tracker = new ResponseTracker();
    tracker.push({ expect: 'describe', hidden: true });
    tracker.push({ expect: 'execute', hidden: true });
    tracker.push({ expect: 'sync', hidden: true });
    const { verdicts, busy } = feed(tracker, [
      B.ParameterDescription,
      B.RowDescription,
      B.DataRow,
      B.CommandComplete,
      B.ReadyForQuery,
    ]);
    expect(verdicts.every((v) => !v.forward)).toBe(true);
    busyUntilLast(busy);
  });
});

describe('ResponseTracker: synthetic slots', () => {
  const A = Buffer.from('synthetic-A');
  const Bx = Buffer.from('synthetic-B');
  const C = Buffer.from('synthetic-C');

  test('a synthetic slot at the head is answered at push time', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    const now = tracker.push(slot('parse', log, 'syn', { synthetic: A }));
    expect(now).toEqual([A]);
    expect(log).toEqual(['syn:true']);
    expect(tracker.busy).toBe(false);
  });

  test('a synthetic slot behind a reply comes in `after` when that reply completes', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('query', log, 'q'));
    expect(tracker.push(slot('query', log, 'local', { synthetic: A }))).toBeUndefined();
    expect(tracker.size).toBe(2);
    const rows = feed(tracker, [B.RowDescription, B.DataRow, B.CommandComplete]);
    allForwardedPlain(rows.verdicts);
    const ready = tracker.onBackend(B.ReadyForQuery, EMPTY);
    expect(ready).toEqual({ forward: true, after: [A] });
    expect(log).toEqual(['q:true', 'local:true']);
    expect(tracker.busy).toBe(false);
  });

  test('consecutive synthetic slots come together in order; a real slot in between splits them', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('parse', log, 'p1'));
    tracker.push(slot('parse', log, 'A', { synthetic: A }));
    tracker.push(slot('close', log, 'B', { synthetic: Bx }));
    tracker.push(slot('bind', log, 'b1'));
    tracker.push(slot('close', log, 'C', { synthetic: C }));
    tracker.push(slot('sync', log, 's'));
    expect(tracker.onBackend(B.ParseComplete, EMPTY)).toEqual({
      forward: true,
      after: [A, Bx],
    });
    expect(tracker.onBackend(B.BindComplete, EMPTY)).toEqual({ forward: true, after: [C] });
    expect(tracker.onBackend(B.ReadyForQuery, EMPTY)).toEqual({
      forward: true,
      after: undefined,
    });
    expect(log).toEqual(['p1:true', 'A:true', 'B:true', 'b1:true', 'C:true', 's:true']);
  });

  test('pushing synthetic slots one by one at the head answers each at once', () => {
    const tracker = new ResponseTracker();
    expect(tracker.push({ expect: 'parse', synthetic: A })).toEqual([A]);
    expect(tracker.push({ expect: 'close', synthetic: Bx })).toEqual([Bx]);
    expect(tracker.busy).toBe(false);
  });

  test('a synthetic slot behind a hidden one: swallowed frame, synthetic bytes after it', () => {
    const tracker = new ResponseTracker();
    tracker.push({ expect: 'parse', hidden: true });
    tracker.push({ expect: 'parse', synthetic: A });
    expect(tracker.onBackend(B.ParseComplete, EMPTY)).toEqual({ forward: false, after: [A] });
    expect(tracker.busy).toBe(false);
  });

  test('a synthetic slot inside a failed batch is skipped like the message it stands for', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('parse', log, 'p1'));
    tracker.push(slot('parse', log, 'cached', { synthetic: A }));
    tracker.push(slot('bind', log, 'b'));
    tracker.push(slot('sync', log, 's'));
    expect(tracker.onBackend(B.ErrorResponse, ERROR)).toEqual({
      forward: true,
      after: undefined,
    });
    expect(log).toEqual(['p1:false', 'cached:false', 'b:false']);
    expect(tracker.onBackend(B.ReadyForQuery, EMPTY)).toEqual({
      forward: true,
      after: undefined,
    });
  });
});

describe('ResponseTracker: FATAL and asynchronous messages', () => {
  test('a FATAL ErrorResponse is forwarded without advancing', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('parse', log));
    tracker.push(slot('sync', log));
    const verdict = tracker.onBackend(B.ErrorResponse, FATAL);
    expect(verdict).toEqual({ forward: true, after: undefined });
    expect(tracker.size).toBe(2);
    expect(log).toEqual([]);
  });

  test('FATAL during a simple Query or with nothing in flight is forwarded too', () => {
    const tracker = new ResponseTracker();
    expect(tracker.onBackend(B.ErrorResponse, FATAL).forward).toBe(true);
    tracker.push({ expect: 'query' });
    expect(tracker.onBackend(B.ErrorResponse, FATAL).forward).toBe(true);
    expect(tracker.size).toBe(1);
  });

  test('FATAL during copy-in leaves the copy state alone (the connection is going away)', () => {
    const tracker = new ResponseTracker();
    tracker.push({ expect: 'execute' });
    tracker.onBackend(B.CopyInResponse, EMPTY);
    tracker.onBackend(B.ErrorResponse, FATAL);
    expect(tracker.size).toBe(1);
  });

  const ASYNC = [B.NoticeResponse, B.NotificationResponse, B.ParameterStatus] as const;

  test.each(ASYNC.map((type) => [String.fromCharCode(type), type]))(
    'asynchronous %s is forwarded in every state and never advances',
    (_name, type) => {
      const tracker = new ResponseTracker();
      const log: string[] = [];
      // Nothing in flight.
      expect(tracker.onBackend(type, EMPTY)).toEqual({ forward: true, after: undefined });
      // Hidden head: still forwarded.
      tracker.push(slot('parse', log, 'hidden', { hidden: true }));
      expect(tracker.onBackend(type, EMPTY).forward).toBe(true);
      tracker.push(slot('describe', log, 'hd', { hidden: true }));
      tracker.push(slot('execute', log));
      tracker.push(slot('sync', log));
      tracker.push(slot('parse', log, 'syn', { synthetic: Buffer.from('x') }));
      expect(tracker.onBackend(type, EMPTY)).toEqual({ forward: true, after: undefined });
      expect(tracker.size).toBe(5);
      tracker.onBackend(B.ParseComplete, EMPTY);
      tracker.onBackend(B.ParameterDescription, EMPTY);
      expect(tracker.onBackend(type, EMPTY).forward).toBe(true);
      tracker.onBackend(B.NoData, EMPTY);
      tracker.onBackend(B.CopyInResponse, EMPTY);
      expect(tracker.onBackend(type, EMPTY).forward).toBe(true);
      expect(tracker.inCopyIn).toBe(true);
      tracker.copyEnded();
      expect(tracker.onBackend(type, EMPTY).forward).toBe(true);
      expect(tracker.size).toBe(2);
      expect(log).toEqual(['hidden:true', 'hd:true']);
    },
  );

  test('PANIC is treated like FATAL', () => {
    const tracker = new ResponseTracker();
    tracker.push({ expect: 'parse' });
    expect(tracker.onBackend(B.ErrorResponse, errorBody('PANIC')).forward).toBe(true);
    expect(tracker.size).toBe(1);
  });
});

/** An ErrorResponse body from raw fields, in the order Postgres writes them (S, V, C, M). */
function rawErrorBody(fields: readonly [string, string][]): Buffer {
  const parts = fields.map(([code, value]) => Buffer.from(`${code}${value}\0`, 'utf8'));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

describe('isFatal', () => {
  test('ERROR is not fatal; FATAL and PANIC are (as the V field says)', () => {
    for (const severity of ['ERROR', 'FATAL', 'PANIC'] as const) {
      const body = errorBody(severity);
      expect(decodeErrorFields(body).severity).toBe(severity);
      expect(isFatal(body)).toBe(severity !== 'ERROR');
    }
  });

  // Regression (fixed; the old behaviour): isFatal searches the whole body for "SFATAL\0", so an ERROR whose message (or detail,
  // hint, where…) ends in "SFATAL" counts as FATAL: `RAISE EXCEPTION 'SFATAL'` in a pipeline
  // leaves the failed slots in place and the tracker busy for good.
  test('an ERROR whose message text ends in "SFATAL" is not fatal', () => {
    const body = rawErrorBody([
      ['S', 'ERROR'],
      ['V', 'ERROR'],
      ['C', 'P0001'],
      ['M', 'SFATAL'],
    ]);
    expect(decodeErrorFields(body).severity).toBe('ERROR');
    expect(isFatal(body)).toBe(false);
  });

  // With lc_messages in another language, S is localized ("致命的エラー" in Japanese); the
  // non-localized V field (Postgres 9.6+) still says FATAL.
  test('a FATAL with a localized S field is fatal (V field says FATAL)', () => {
    const body = rawErrorBody([
      ['S', '致命的エラー'],
      ['V', 'FATAL'],
      ['C', '57P01'],
      ['M', 'terminating connection due to administrator command'],
    ]);
    expect(decodeErrorFields(body).severity).toBe('FATAL');
    expect(isFatal(body)).toBe(true);
  });
});

describe('ResponseTracker: reset', () => {
  test('reset fails every slot, clears copy-in, and leaves the tracker reusable', () => {
    const tracker = new ResponseTracker();
    const log: string[] = [];
    tracker.push(slot('parse', log, 'p'));
    tracker.push(slot('execute', log, 'e'));
    tracker.push(slot('sync', log, 's'));
    tracker.onBackend(B.ParseComplete, EMPTY);
    tracker.onBackend(B.CopyInResponse, EMPTY);
    expect(tracker.inCopyIn).toBe(true);
    tracker.reset();
    expect(log).toEqual(['p:true', 'e:false']);
    expect(tracker.busy).toBe(false);
    expect(tracker.size).toBe(0);
    expect(tracker.inCopyIn).toBe(false);
    // After reset a Sync is recorded again (it is not swallowed as during copy-in).
    tracker.push(slot('sync', log, 's2'));
    expect(tracker.size).toBe(1);
    tracker.onBackend(B.ReadyForQuery, EMPTY);
    expect(log.at(-1)).toBe('s2:true');
  });

  test('reset on an empty tracker is harmless', () => {
    const tracker = new ResponseTracker();
    tracker.reset();
    expect(tracker.busy).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Differential: real Postgres answers real pipelines; the tracker, given the slots the proxy
// would push, must agree with Postgres on when everything has been answered.

interface Step {
  /** Frontend messages written at once; `slots` are pushed (in order) before writing. */
  readonly send: readonly Buffer[];
  readonly slots: readonly (Slot | 'copy-ended')[];
  /** Wait until the recorded backend messages satisfy this. */
  readonly until: (types: readonly number[]) => boolean;
}

class Recorder {
  readonly frames: Frame[] = [];
  closed = false;
  private wake: (() => void) | undefined;

  constructor(connection: UpstreamConnection) {
    connection.listen({
      onFrames: (frames) => {
        for (const f of frames) this.frames.push(copyFrame(f));
        this.wake?.();
      },
      onClose: () => {
        this.closed = true;
        this.wake?.();
      },
    });
  }

  async waitFor(cond: (types: readonly number[]) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond(this.frames.map((f) => f.type))) {
      if (this.closed) throw new Error('upstream closed');
      if (Date.now() > deadline)
        throw new Error(
          `timed out; got ${this.frames.map((f) => String.fromCharCode(f.type)).join('')}`,
        );
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }
}

const countOf = (type: number, n: number) => (types: readonly number[]) =>
  types.filter((t) => t === type).length >= n;

interface Replay {
  readonly types: string;
  readonly busyAfter: boolean[];
  readonly forwarded: boolean[];
  readonly tracker: ResponseTracker;
}

/** Run the steps against Postgres and replay what it sent through a tracker. */
async function replay(connection: UpstreamConnection, steps: readonly Step[]): Promise<Replay> {
  const recorder = new Recorder(connection);
  const tracker = new ResponseTracker();
  const busyAfter: boolean[] = [];
  const forwarded: boolean[] = [];
  let seen = 0;
  for (const step of steps) {
    for (const s of step.slots) {
      if (s === 'copy-ended') tracker.copyEnded();
      else tracker.push(s);
    }
    connection.write(Buffer.concat(step.send));
    await recorder.waitFor(step.until);
    // Frames that arrived for this step are seen by the proxy before the next step's pushes.
    for (; seen < recorder.frames.length; seen++) {
      const frame = recorder.frames[seen];
      if (!frame) break;
      if (frame.type === B.ErrorResponse) {
        const severity = decodeErrorFields(frame.body).severity;
        expect(isFatal(frame.body)).toBe(severity === 'FATAL' || severity === 'PANIC');
      }
      const verdict = tracker.onBackend(frame.type, frame.body);
      forwarded.push(verdict.forward);
      busyAfter.push(tracker.busy);
    }
  }
  return {
    types: recorder.frames.map((f) => String.fromCharCode(f.type)).join(''),
    busyAfter,
    forwarded,
    tracker,
  };
}

/** busy stays true until the last ReadyForQuery, and is false exactly from there on. */
function expectBusyUntilLastReady(result: Replay): void {
  const last = result.types.lastIndexOf('Z');
  expect(last).toBeGreaterThanOrEqual(0);
  expect(last).toBe(result.types.length - 1);
  const expected = result.busyAfter.map((_, i) => i < last);
  expect(result.busyAfter).toEqual(expected);
}

const S = (e: Expectation, extra: { hidden?: boolean } = {}): Slot => ({ expect: e, ...extra });

describe('ResponseTracker against a real Postgres', () => {
  const url = inject('upstreamUrl');
  const parsed = parseUpstreamUrl(url);
  const log = pino({ level: 'silent' });
  let connection: UpstreamConnection;

  const connect = (): Promise<UpstreamConnection> =>
    UpstreamConnection.connect(
      {
        endpoint: parsed.endpoint,
        user: parsed.admin.user,
        credentials: { kind: 'password', password: parsed.admin.password ?? '' },
        params: new Map(),
        connectTimeoutMs: 10_000,
      },
      log,
    );

  beforeAll(async () => {
    connection = await connect();
    await connection.runQuiet(
      'CREATE TEMP TABLE rt_copy (x int); ' +
        'CREATE TEMP TABLE rt_deferred (x int UNIQUE DEFERRABLE INITIALLY DEFERRED)',
      10_000,
    );
  });
  afterAll(() => {
    connection.terminate();
  });

  test('multi-statement simple Query', async () => {
    const result = await replay(connection, [
      {
        send: [
          fe.query('SELECT 1 AS a; SELECT 2 AS b, 3 AS c UNION ALL SELECT 4, 5; SET LOCAL x.y = 1'),
        ],
        slots: [S('query')],
        until: countOf(B.ReadyForQuery, 1),
      },
    ]);
    expect(result.types).toBe('TDCTDDCCZ');
    expect(result.forwarded.every(Boolean)).toBe(true);
    expectBusyUntilLastReady(result);
  });

  test('three Sync batches with an error mid-pipeline (Parse fails in the second)', async () => {
    const batch = (sql: string): Buffer[] => [
      fe.parse('', sql),
      fe.bind(),
      fe.describe('P'),
      fe.execute(),
      fe.sync(),
    ];
    const slots = [S('parse'), S('bind'), S('describe'), S('execute'), S('sync')];
    const result = await replay(connection, [
      {
        send: [...batch('SELECT 1'), ...batch('SELEC 2'), ...batch('SELECT 3, 4')],
        slots: [...slots, ...slots, ...slots],
        until: countOf(B.ReadyForQuery, 3),
      },
    ]);
    expect(result.types).toBe('12TDCZ' + 'EZ' + '12TDCZ');
    expectBusyUntilLastReady(result);
  });

  test('error on Bind (bad parameter) skips Describe and Execute until Sync', async () => {
    const log: string[] = [];
    const result = await replay(connection, [
      {
        send: [
          fe.parse('', 'SELECT $1::int AS n'),
          fe.bind({ params: ['not a number'] }),
          fe.describe('P'),
          fe.execute(),
          fe.sync(),
          fe.parse('', 'SELECT $1::int AS n'),
          fe.bind({ params: ['7'] }),
          fe.execute(),
          fe.sync(),
        ],
        slots: [
          slot('parse', log, 'p1'),
          slot('bind', log, 'b1'),
          slot('describe', log, 'd1'),
          slot('execute', log, 'e1'),
          slot('sync', log, 's1'),
          slot('parse', log, 'p2'),
          slot('bind', log, 'b2'),
          slot('execute', log, 'e2'),
          slot('sync', log, 's2'),
        ],
        until: countOf(B.ReadyForQuery, 2),
      },
    ]);
    expect(result.types).toBe('1EZ' + '12DCZ');
    expectBusyUntilLastReady(result);
    expect(log).toEqual([
      'p1:true',
      'b1:false',
      'd1:false',
      'e1:false',
      's1:true',
      'p2:true',
      'b2:true',
      'e2:true',
      's2:true',
    ]);
  });

  test('Describe statement (ParameterDescription + RowDescription, or NoData) and Close', async () => {
    const result = await replay(connection, [
      {
        send: [
          fe.parse('rt_s1', 'SELECT $1::int + 1 AS x'),
          fe.describe('S', 'rt_s1'),
          fe.parse('rt_s2', 'SET LOCAL x.y = 1'),
          fe.describe('S', 'rt_s2'),
          fe.close('S', 'rt_s1'),
          fe.close('S', 'rt_s2'),
          fe.sync(),
        ],
        slots: [
          S('parse'),
          S('describe'),
          S('parse'),
          S('describe'),
          S('close'),
          S('close'),
          S('sync'),
        ],
        until: countOf(B.ReadyForQuery, 1),
      },
    ]);
    expect(result.types).toBe('1tT1tn33Z');
    expectBusyUntilLastReady(result);
  });

  test('Execute with a row limit: PortalSuspended, then the rest', async () => {
    const result = await replay(connection, [
      {
        send: [
          fe.parse('', 'SELECT generate_series(1, 5)'),
          fe.bind(),
          fe.execute('', 2),
          fe.execute('', 2),
          fe.execute('', 0),
          fe.sync(),
        ],
        slots: [S('parse'), S('bind'), S('execute'), S('execute'), S('execute'), S('sync')],
        until: countOf(B.ReadyForQuery, 1),
      },
    ]);
    expect(result.types).toBe('12DDsDDsDCZ');
    expectBusyUntilLastReady(result);
  });

  test('COMMIT failing at Sync: ErrorResponse then ReadyForQuery', async () => {
    const result = await replay(connection, [
      {
        send: [
          fe.parse('', 'INSERT INTO rt_deferred VALUES (1), (1)'),
          fe.bind(),
          fe.execute(),
          fe.sync(),
        ],
        slots: [S('parse'), S('bind'), S('execute'), S('sync')],
        until: countOf(B.ReadyForQuery, 1),
      },
    ]);
    expect(result.types).toBe('12CEZ');
    expectBusyUntilLastReady(result);
  });

  test('COPY FROM STDIN via simple Query', async () => {
    const result = await replay(connection, [
      {
        send: [fe.query('COPY rt_copy FROM STDIN')],
        slots: [S('query')],
        until: countOf(B.CopyInResponse, 1),
      },
      {
        send: [fe.copyData(Buffer.from('1\n2\n')), fe.copyDone()],
        slots: ['copy-ended'],
        until: countOf(B.ReadyForQuery, 1),
      },
    ]);
    expect(result.types).toBe('GCZ');
    expectBusyUntilLastReady(result);
  });

  test('COPY FROM STDIN via extended protocol, Sync after Execute and during copy-in ignored', async () => {
    const result = await replay(connection, [
      {
        send: [fe.parse('', 'COPY rt_copy FROM STDIN'), fe.bind(), fe.execute(), fe.sync()],
        slots: [S('parse'), S('bind'), S('execute'), S('sync')],
        until: countOf(B.CopyInResponse, 1),
      },
      {
        // A Sync in the middle of the data: Postgres ignores it during copy-in.
        send: [fe.copyData(Buffer.from('3\n')), fe.sync(), fe.copyData(Buffer.from('4\n'))],
        slots: [S('sync')],
        until: () => true,
      },
      {
        send: [fe.copyDone(), fe.sync()],
        slots: ['copy-ended', S('sync')],
        until: countOf(B.ReadyForQuery, 1),
      },
    ]);
    expect(result.types).toBe('12GCZ');
    expectBusyUntilLastReady(result);
  });

  test('COPY FROM STDIN via extended protocol ended by CopyFail', async () => {
    const result = await replay(connection, [
      {
        send: [fe.parse('', 'COPY rt_copy FROM STDIN'), fe.bind(), fe.execute(), fe.sync()],
        slots: [S('parse'), S('bind'), S('execute'), S('sync')],
        until: countOf(B.CopyInResponse, 1),
      },
      {
        send: [fe.copyData(Buffer.from('5\n')), fe.copyFail('client gave up'), fe.sync()],
        slots: ['copy-ended', S('sync')],
        until: countOf(B.ReadyForQuery, 1),
      },
    ]);
    expect(result.types).toBe('12GEZ');
    expectBusyUntilLastReady(result);
  });

  test('hidden Parse and Close injected by the proxy around a client Bind/Execute', async () => {
    const result = await replay(connection, [
      {
        send: [
          fe.parse('rt_hidden', 'SELECT $1::text AS t'),
          fe.bind({ statement: 'rt_hidden', params: ['x'] }),
          fe.execute(),
          fe.close('S', 'rt_hidden'),
          fe.sync(),
        ],
        slots: [
          S('parse', { hidden: true }),
          S('bind'),
          S('execute'),
          S('close', { hidden: true }),
          S('sync'),
        ],
        until: countOf(B.ReadyForQuery, 1),
      },
    ]);
    expect(result.types).toBe('12DC3Z');
    expect(result.forwarded).toEqual([false, true, true, true, false, true]);
    expectBusyUntilLastReady(result);
  });

  // See the unit test "messages sent after an error but before any Sync are skipped too".
  test('messages that reach Postgres after an error but before Sync are skipped', async () => {
    const result = await replay(connection, [
      {
        send: [fe.parse('', 'SELEC 1'), fe.flush()],
        slots: [S('parse')],
        until: countOf(B.ErrorResponse, 1),
      },
      {
        send: [fe.parse('', 'SELECT 1'), fe.bind(), fe.execute(), fe.sync()],
        slots: [S('parse'), S('bind'), S('execute'), S('sync')],
        until: countOf(B.ReadyForQuery, 1),
      },
    ]);
    // Postgres answers nothing but the Sync.
    expect(result.types).toBe('EZ');
    // Nothing is owed after the ErrorResponse (no Sync sent yet), nor after the ReadyForQuery.
    expect(result.busyAfter).toEqual([false, false]);
  });

  // Regression: CopyInResponse once dropped *every* Sync queued behind the COPY's Execute, also
  // one the client sent after its CopyDone when it streamed the data without waiting for
  // CopyInResponse. Postgres ignores only the Syncs that arrive during copy-in.
  test('COPY data streamed before CopyInResponse, followed by a Sync and a Query', async () => {
    const result = await replay(connection, [
      {
        send: [
          fe.parse('', 'COPY rt_copy FROM STDIN'),
          fe.bind(),
          fe.execute(),
          fe.sync(),
          fe.copyData(Buffer.from('6\n')),
          fe.copyDone(),
          fe.sync(),
          fe.query('SELECT 1'),
        ],
        slots: [
          S('parse'),
          S('bind'),
          S('execute'),
          S('sync'),
          'copy-ended',
          S('sync'),
          S('query'),
        ],
        until: countOf(B.ReadyForQuery, 2),
      },
    ]);
    expect(result.types).toBe('12GCZTDCZ');
    expectBusyUntilLastReady(result);
  });

  test('FATAL (backend terminated) is forwarded without completing the Query', async () => {
    const victim = await connect();
    const result = await replay(victim, [
      {
        send: [fe.query('SELECT pg_terminate_backend(pg_backend_pid())')],
        slots: [S('query')],
        until: countOf(B.ErrorResponse, 1),
      },
    ]);
    // The function's row may come first; the FATAL ErrorResponse is last, then the socket closes.
    expect(result.types).toMatch(/^(TD)?E$/);
    expect(result.forwarded.every(Boolean)).toBe(true);
    expect(result.busyAfter.every(Boolean)).toBe(true);
    expect(result.tracker.size).toBe(1);
    result.tracker.reset();
    expect(result.tracker.busy).toBe(false);
    victim.destroy();
  });

  test('the messages built by be.* encoders carry the codes the tracker switches on', () => {
    // Guards against a code table drifting from the encoders the proxy uses for synthetic replies.
    expect(be.parseComplete()[0]).toBe(B.ParseComplete);
    expect(be.bindComplete()[0]).toBe(B.BindComplete);
    expect(be.closeComplete()[0]).toBe(B.CloseComplete);
    expect(be.noData()[0]).toBe(B.NoData);
    expect(be.portalSuspended()[0]).toBe(B.PortalSuspended);
    expect(be.emptyQueryResponse()[0]).toBe(B.EmptyQueryResponse);
    expect(be.readyForQuery(0x49)[0]).toBe(B.ReadyForQuery);
  });
});

/** A frame that owns its bytes (received chunks are views the reader may drop). */
function copyFrame(frame: Frame): Frame {
  const raw = Buffer.from(frame.raw);
  return new Frame(frame.type, raw, 0, raw.length, frame.headerLength);
}
