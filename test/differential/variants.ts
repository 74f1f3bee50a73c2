/** The protocol variants and pool modes of the differential suite. */

/**
 * simple: one Query. extended-text / extended-binary: Parse, Bind (result format 0 / 1 for all
 * columns), Describe portal, Execute, Sync with the unnamed statement. named-twice: Parse of a
 * named statement, Describe statement, Bind/Describe/Execute/Sync (text), then — pipelined —
 * Bind/Describe/Execute/Sync again (binary) and Close/Sync.
 */
export const VARIANTS = ['simple', 'extended-text', 'extended-binary', 'named-twice'] as const;
export type Variant = (typeof VARIANTS)[number];
export type PoolMode = 'session' | 'transaction';

/** Protocol-level statement name of the named-twice variant. */
export const NAMED_STATEMENT = 'dfdiff_named';
