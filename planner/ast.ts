/**
 * Reading libpg-query's JSON parse tree without casts: every node is `{ Kind: { …fields } }`.
 * These helpers check shapes at run time and return undefined when a field is not what the
 * caller expects, so an unexpected tree makes the planner forward the statement, never crash.
 */
export type Fields = Readonly<Record<string, unknown>>;

export interface Node {
  readonly kind: string;
  readonly fields: Fields;
}

export function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{ Kind: {...} }` → its kind and fields. */
export function asNode(value: unknown): Node | undefined {
  if (!isFields(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  const kind = keys[0];
  if (kind === undefined) return undefined;
  const fields = value[kind];
  return isFields(fields) ? { kind, fields } : undefined;
}

export function field(fields: Fields, key: string): Node | undefined {
  return asNode(fields[key]);
}

/** A struct held inline (not as a `{ Kind: … }` node), such as TypeCast's typeName. */
export function struct(fields: Fields, key: string): Fields | undefined {
  const value = fields[key];
  return isFields(value) ? value : undefined;
}

export function fieldList(fields: Fields, key: string): Node[] {
  const value = fields[key];
  if (!Array.isArray(value)) return [];
  const out: Node[] = [];
  for (const item of value) {
    const node = asNode(item);
    if (node) out.push(node);
  }
  return out;
}

export function text(fields: Fields, key: string): string | undefined {
  const value = fields[key];
  return typeof value === 'string' ? value : undefined;
}

export function integer(fields: Fields, key: string): number | undefined {
  const value = fields[key];
  return typeof value === 'number' ? value : undefined;
}

export function location(node: Node): number | undefined {
  return integer(node.fields, 'location');
}

/** A list of String nodes (function names, column references) → their values. */
export function names(nodes: readonly Node[]): string[] {
  const out: string[] = [];
  for (const node of nodes) {
    if (node.kind === 'String') out.push(text(node.fields, 'sval') ?? '');
    else if (node.kind === 'A_Star') out.push('*');
  }
  return out;
}

/** The value of a string A_Const, or undefined for anything else. */
export function stringConstant(node: Node): string | undefined {
  if (node.kind !== 'A_Const') return undefined;
  const sval = node.fields.sval;
  if (!isFields(sval)) return undefined;
  return typeof sval.sval === 'string' ? sval.sval : ''; // the empty string has no sval
}

/** The value of an integer (bigint) or decimal (number) A_Const, else undefined. */
export function numberConstant(node: Node): bigint | number | undefined {
  if (node.kind !== 'A_Const') return undefined;
  const ival = node.fields.ival;
  if (isFields(ival)) return BigInt(integer(ival, 'ival') ?? 0); // 0 has no ival
  const fval = node.fields.fval;
  if (isFields(fval)) {
    const value = text(fval, 'fval');
    if (value === undefined) return undefined;
    // Integers beyond int4 arrive as fval: keep them exact.
    return /^-?\d+$/.test(value) ? BigInt(value) : Number(value);
  }
  return undefined;
}

/** Visit every node under `value`, depth first, with the key path from the root. */
export function walk(
  value: unknown,
  visit: (node: Node, path: readonly string[]) => void,
  path: string[] = [],
): void {
  if (Array.isArray(value)) {
    for (const item of value) walk(item, visit, path);
    return;
  }
  if (!isFields(value)) return;
  const node = asNode(value);
  // Some fields hold structs inline rather than as `{ Kind: … }` nodes (withClause, alias):
  // their members are walked all the same.
  if (node !== undefined) visit(node, path);
  for (const [key, child] of Object.entries(node?.fields ?? value)) {
    if (typeof child !== 'object' || child === null) continue;
    path.push(key);
    walk(child, visit, path);
    path.pop();
  }
}
