import { WireConnection } from '../wire.js';
import { toEvents, OidNormalizer } from '../outcome.js';
import { batchesFor } from '../harness.js';
const c = await WireConnection.open({
  host: '127.0.0.1',
  port: 44907,
  user: 'docfusion',
  password: 'docfusion',
  database: 'docfusion',
  params: { TimeZone: 'UTC' },
});
const oids = new OidNormalizer(16384);
for (const sql of process.argv.slice(2)) {
  for (const v of ['simple', 'extended-binary'] as const) {
    const msgs = [];
    for (const b of batchesFor(v, sql, [])) msgs.push(...(await c.exchange(b, 1, v !== 'simple')));
    console.log(v, JSON.stringify(toEvents(msgs, { oids })));
  }
}
c.close();
