import { describe, expect, test } from 'vitest';
import { CancelRegistry, type Cancellable } from '../../src/cancel-registry.js';

class Target implements Cancellable {
  calls = 0;
  cancel(): void {
    this.calls++;
  }
}

/** A different key of the same length (every byte changed). */
const flipped = (key: Buffer): Buffer => Buffer.from(key.map((b) => b ^ 0xff));

describe('CancelRegistry', () => {
  test('register hands out a positive int32 process id and a 4-byte secret (protocol 3.0)', () => {
    const registry = new CancelRegistry();
    const key = registry.register(new Target());
    expect(Number.isInteger(key.processId)).toBe(true);
    expect(key.processId).toBeGreaterThan(0);
    expect(key.processId).toBeLessThanOrEqual(0x7fffffff);
    expect(key.secretKey).toHaveLength(4);
    expect(registry.size).toBe(1);
  });

  test('process ids are unique among live sessions; secrets differ', () => {
    const registry = new CancelRegistry();
    const keys = Array.from({ length: 2000 }, () => registry.register(new Target()));
    expect(new Set(keys.map((k) => k.processId)).size).toBe(keys.length);
    expect(new Set(keys.map((k) => k.secretKey.toString('hex'))).size).toBeGreaterThan(1900);
    expect(registry.size).toBe(keys.length);
  });

  test('the right key cancels exactly its own session, once per request', () => {
    const registry = new CancelRegistry();
    const a = new Target();
    const b = new Target();
    const keyA = registry.register(a);
    registry.register(b);
    expect(registry.cancel(keyA.processId, Buffer.from(keyA.secretKey))).toBe(true);
    expect(a.calls).toBe(1);
    expect(b.calls).toBe(0);
    expect(registry.cancel(keyA.processId, keyA.secretKey)).toBe(true);
    expect(a.calls).toBe(2);
  });

  test('a wrong secret of the right length cancels nothing', () => {
    const registry = new CancelRegistry();
    const target = new Target();
    const key = registry.register(target);
    expect(registry.cancel(key.processId, flipped(key.secretKey))).toBe(false);
    // One byte off.
    const oneOff = Buffer.from(key.secretKey);
    oneOff[3] = (oneOff[3] ?? 0) ^ 1;
    expect(registry.cancel(key.processId, oneOff)).toBe(false);
    expect(target.calls).toBe(0);
  });

  test.each([0, 1, 3, 5, 8, 32, 256])(
    'a secret of the wrong length (%i bytes) cancels nothing and does not throw',
    (length) => {
      const registry = new CancelRegistry();
      const target = new Target();
      const key = registry.register(target);
      // A prefix/extension of the real key, so only the length is wrong.
      const wrong = Buffer.alloc(length);
      key.secretKey.copy(wrong, 0, 0, Math.min(length, 4));
      expect(registry.cancel(key.processId, wrong)).toBe(false);
      expect(target.calls).toBe(0);
    },
  );

  test("one session's secret does not open another session's process id", () => {
    const registry = new CancelRegistry();
    const a = new Target();
    const b = new Target();
    const keyA = registry.register(a);
    const keyB = registry.register(b);
    // Equal secrets happen once in 2^32; then the request would rightly cancel B.
    const same = keyA.secretKey.equals(keyB.secretKey);
    expect(registry.cancel(keyB.processId, keyA.secretKey)).toBe(same);
    expect(a.calls).toBe(0);
    expect(b.calls).toBe(same ? 1 : 0);
  });

  test('unknown process ids (including 0 and negative) cancel nothing', () => {
    const registry = new CancelRegistry();
    const target = new Target();
    const key = registry.register(target);
    for (const pid of [0, -1, -key.processId, key.processId === 0x7fffffff ? 1 : 0x7fffffff]) {
      expect(registry.cancel(pid, key.secretKey)).toBe(false);
    }
    expect(target.calls).toBe(0);
  });

  test('unregister: the key stops working; other sessions are untouched', () => {
    const registry = new CancelRegistry();
    const a = new Target();
    const b = new Target();
    const keyA = registry.register(a);
    const keyB = registry.register(b);
    registry.unregister(keyA.processId);
    expect(registry.size).toBe(1);
    expect(registry.cancel(keyA.processId, keyA.secretKey)).toBe(false);
    expect(a.calls).toBe(0);
    expect(registry.cancel(keyB.processId, keyB.secretKey)).toBe(true);
    expect(b.calls).toBe(1);
    registry.unregister(keyA.processId); // twice: harmless
    registry.unregister(12345);
    expect(registry.size).toBe(1);
  });
});
