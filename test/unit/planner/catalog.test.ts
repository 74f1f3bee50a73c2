import { describe, expect, test } from 'vitest';
import { Catalog, type RelationInfo } from '../../../planner/catalog.js';

/** A catalog over a table whose `doc` type a test changes, with a clock the test moves. */
function fixture(): {
  catalog: Catalog;
  setType: (oid: number) => void;
  tick: (ms: number) => void;
} {
  let type = 3802;
  let now = 1000;
  const fetch = (names: readonly string[]): Promise<RelationInfo[]> =>
    Promise.resolve(
      names.includes('docs')
        ? [{ schema: 'public', name: 'docs', visible: true, columns: new Map([['doc', type]]) }]
        : [],
    );
  return {
    catalog: new Catalog(fetch, 100, () => now),
    setType: (oid) => {
      type = oid;
    },
    tick: (ms) => {
      now += ms;
    },
  };
}

describe('Catalog: what plans made from it can rely on', () => {
  test('current while read less than the TTL ago and unchanged since the generation', async () => {
    const { catalog, tick } = fixture();
    const generation = catalog.generation;
    await catalog.relations(['docs']);
    expect(catalog.current(['docs'], generation)).toBe(true);
    expect(catalog.current(['other'], generation)).toBe(false); // never read
    tick(100);
    expect(catalog.current(['docs'], generation)).toBe(false); // past the TTL: plan again
    await catalog.relations(['docs']); // read again, unchanged
    expect(catalog.generation).toBe(generation);
    expect(catalog.current(['docs'], generation)).toBe(true);
  });

  test('a re-read that finds another column type starts a new generation', async () => {
    const { catalog, setType, tick } = fixture();
    const generation = catalog.generation;
    await catalog.relations(['docs']);
    setType(114); // ALTER TABLE … TYPE json, straight on the upstream
    expect(catalog.current(['docs'], generation)).toBe(true); // not known until the TTL
    tick(100);
    await catalog.relations(['docs']);
    expect(catalog.generation).not.toBe(generation);
    expect(catalog.current(['docs'], generation)).toBe(false);
    expect(catalog.current(['docs'], catalog.generation)).toBe(true);
  });

  test('invalidate (DDL through the proxy) starts a new generation', async () => {
    const { catalog } = fixture();
    const generation = catalog.generation;
    await catalog.relations(['docs']);
    catalog.invalidate();
    expect(catalog.current([], generation)).toBe(false);
  });
});
