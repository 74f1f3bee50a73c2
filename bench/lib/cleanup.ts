/**
 * Cleanup for benchmarks: every resource a bench starts (child processes, an embedded Postgres,
 * temporary directories) registers a cleanup here, and they run in reverse order when the bench
 * ends, fails, or is interrupted (Ctrl-C, SIGTERM, SIGHUP).
 */

type CleanupFn = () => Promise<void> | void;

interface Entry {
  readonly name: string;
  readonly fn: CleanupFn;
}

const stack: Entry[] = [];
let running: Promise<void> | undefined;
let interruptedBy: NodeJS.Signals | undefined;

/** Registers `fn` to run at cleanup; returns a function that unregisters it (without running). */
export function onCleanup(name: string, fn: CleanupFn): () => void {
  const entry: Entry = { name, fn };
  stack.push(entry);
  return () => {
    const i = stack.indexOf(entry);
    if (i >= 0) stack.splice(i, 1);
  };
}

/**
 * Runs every registered cleanup, last registered first. A failing cleanup is reported on stderr
 * and does not stop the others. Concurrent calls share one run; cleanups registered while it runs
 * are run too.
 */
export function runCleanups(): Promise<void> {
  running ??= (async () => {
    for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
      try {
        await entry.fn();
      } catch (error) {
        process.stderr.write(`cleanup "${entry.name}" failed: ${errorMessage(error)}\n`);
      }
    }
  })().finally(() => {
    running = undefined;
  });
  return running;
}

/** The signal that interrupted the bench, if any (so callers can stay quiet about the fallout). */
export function interruptedSignal(): NodeJS.Signals | undefined {
  return interruptedBy;
}

/**
 * Runs `main` with cleanup guaranteed: on return, on a thrown error (printed), and on
 * SIGINT/SIGTERM/SIGHUP (a second signal exits at once). The process exits with main's code,
 * 1 on an error, or 128 + the signal number when interrupted.
 */
export function runBench(main: () => Promise<number>): void {
  const signalCodes: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGTERM: 15,
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    const code = 128 + (signalCodes[signal] ?? 0);
    if (interruptedBy !== undefined) {
      process.stderr.write(`\n${signal} again: exiting without finishing cleanup\n`);
      process.exit(code);
    }
    interruptedBy = signal;
    process.stderr.write(`\n${signal}: stopping, cleaning up...\n`);
    runCleanups().then(
      () => process.exit(code),
      () => process.exit(code),
    );
  };
  for (const signal of Object.keys(signalCodes) as NodeJS.Signals[]) process.on(signal, onSignal);

  main()
    .catch((error: unknown) => {
      if (interruptedBy === undefined) {
        process.stderr.write(`\nbench failed: ${errorMessage(error)}\n`);
      }
      return 1;
    })
    .then(async (code) => {
      await runCleanups();
      if (interruptedBy !== undefined) return; // the signal handler exits
      process.exitCode = code;
    })
    .catch((error: unknown) => {
      process.stderr.write(`bench cleanup failed: ${errorMessage(error)}\n`);
      process.exitCode = 1;
    });
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return error.message + cause;
  }
  return String(error);
}
