/** Type OIDs of the builtin Postgres types the API converts, and their names. */
export const PgType = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

const NAMES = new Map<number, string>(Object.entries(PgType).map(([name, oid]) => [oid, name]));

export function typeName(oid: number): string {
  return NAMES.get(oid) ?? String(oid);
}

/** A text-format value as JSON: numbers, booleans and JSON as such; the rest as strings. */
export function jsonValue(oid: number, text: string): unknown {
  switch (oid) {
    case PgType.bool:
      return text === 't';
    case PgType.int2:
    case PgType.int4:
    case PgType.oid:
      return Number(text);
    case PgType.float4:
    case PgType.float8: {
      const n = Number(text);
      return Number.isFinite(n) ? n : text;
    }
    case PgType.int8: {
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : text;
    }
    case PgType.json:
    case PgType.jsonb:
      return JSON.parse(text);
    default:
      return text;
  }
}
