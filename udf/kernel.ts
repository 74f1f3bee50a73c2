import type { Vector } from 'apache-arrow';
import { DocumentColumn } from './arrow/document-cache.js';
import { resultBuilder } from './arrow/result-builder.js';
import { vectorValue } from './arrow/vector-value.js';
import type { ArgRole, DocFusionFunction, KernelArg, ScalarFn, Value } from './function.js';
import { clearPrimed, primeParsed } from './support/json-args.js';

export { vectorValue };

/** How the kernel reads one argument for row i. */
type ArgReader =
  | { readonly kind: 'constant'; readonly value: Value }
  | { readonly kind: 'vector'; readonly vector: Vector }
  | { readonly kind: 'json'; readonly column: DocumentColumn };

/**
 * Evaluates a bound DocFusion function over `length` rows and returns a vector of its return
 * type. Strict: a row with a NULL argument is NULL and `scalar` is not called for it. When
 * every argument is a constant the function is called once. Document and JSON columns are
 * parsed through a per-vector cache, so functions over the same column share one parse per
 * document; the parsed form reaches `scalar` through json-args' priming (the argument array
 * passed to `scalar` is reused: it is only valid during the call).
 */
export function evaluateKernel(
  fn: DocFusionFunction,
  scalar: ScalarFn,
  args: readonly KernelArg[],
  length: number,
): Vector {
  const builder = resultBuilder(fn.returns, length);
  const readers = args.map((arg, i): ArgReader => {
    if (arg.kind === 'constant') return { kind: 'constant', value: arg.value };
    if (isJsonRole(roleOf(fn, i))) return { kind: 'json', column: new DocumentColumn(arg.vector) };
    return { kind: 'vector', vector: arg.vector };
  });

  if (readers.some((reader) => reader.kind === 'constant' && reader.value === null)) {
    return builder.finish();
  }
  if (readers.every((reader) => reader.kind === 'constant') && length > 0) {
    const value = scalar(readers.map((reader) => reader.value));
    for (let row = 0; row < length; row++) builder.set(row, value);
    return builder.finish();
  }

  const values: Value[] = readers.map((reader) =>
    reader.kind === 'constant' ? reader.value : null,
  );
  try {
    for (let row = 0; row < length; row++) {
      let isNull = false;
      for (let i = 0; i < readers.length; i++) {
        const reader = readers[i];
        if (reader === undefined || reader.kind === 'constant') continue;
        const value =
          reader.kind === 'json' ? reader.column.value(row) : vectorValue(reader.vector, row);
        values[i] = value;
        if (value === null) {
          isNull = true;
          break;
        }
      }
      if (isNull) {
        builder.set(row, null);
        continue;
      }
      for (let i = 0; i < readers.length; i++) {
        const reader = readers[i];
        const value = values[i];
        if (reader?.kind === 'json' && typeof value === 'string')
          primeParsed(value, reader.column.parsed(row));
      }
      builder.set(row, scalar(values));
      clearPrimed();
    }
  } finally {
    clearPrimed();
  }
  return builder.finish();
}

function roleOf(fn: DocFusionFunction, index: number): ArgRole | undefined {
  return fn.params[index] ?? fn.variadic;
}

function isJsonRole(role: ArgRole | undefined): boolean {
  return role === 'document' || role === 'json';
}
