import pg from 'pg';

export interface Readiness {
  readonly ok: boolean;
  readonly reason?: string;
  /** When this was measured (ms since epoch). */
  readonly at: number;
}

/**
 * Is DocFusionDB ready to serve: accepting connections, and the upstream answers `SELECT 1`
 * over the admin login. Shared by `GET /readyz` and `SHOW docfusion.status`; results are cached
 * for a second so probes cannot hammer the upstream, and refreshed every few seconds in the
 * background so the wire-protocol answer (which cannot wait) is current.
 */
export class ReadinessProbe {
  private last: Readiness = { ok: false, reason: 'not checked yet', at: 0 };
  private running: Promise<Readiness> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly upstreamUrl: string,
    private readonly accepting: () => boolean,
    intervalMs = 5000,
  ) {
    this.timer = setInterval(() => {
      void this.check();
    }, intervalMs);
    this.timer.unref();
    void this.check();
  }

  /** The last result, without waiting. */
  get current(): Readiness {
    return this.last;
  }

  /** A result at most a second old. */
  check(): Promise<Readiness> {
    if (Date.now() - this.last.at < 1000) return Promise.resolve(this.last);
    this.running ??= this.measure().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async measure(): Promise<Readiness> {
    let result: Readiness;
    if (!this.accepting()) {
      result = { ok: false, reason: 'not accepting connections', at: Date.now() };
    } else {
      const client = new pg.Client({
        connectionString: this.upstreamUrl,
        connectionTimeoutMillis: 2000,
        application_name: 'docfusiondb-readiness',
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
        result = { ok: true, at: Date.now() };
      } catch (error) {
        result = {
          ok: false,
          reason: `upstream unreachable: ${(error as Error).message}`,
          at: Date.now(),
        };
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    this.last = result;
    return result;
  }
}
