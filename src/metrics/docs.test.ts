/** docs/reference/metrics.md lists every exported metric, and the Grafana example uses only metrics that exist. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../domain/clock.ts';
import { createSqliteStore } from '../store/sqlite/sqlite-store.ts';
import { createMetrics } from './metrics.ts';

const root = join(import.meta.dirname, '../..');
const store = createSqliteStore({ path: ':memory:' });
await store.migrate();
const names = (await createMetrics({ store, clock: new ManualClock() }).registry.getMetricsAsJSON()).map((m) => m.name).sort();
await store.close();

describe('metrics docs', () => {
  it('exports the documented set', () => {
    expect(names.length).toBeGreaterThanOrEqual(11);
    const doc = readFileSync(join(root, 'docs/reference/metrics.md'), 'utf8');
    for (const n of names) expect(doc, n).toContain(`\`${n}\``);
    const documented = [...doc.matchAll(/^\| `(switchboard_[a-z_]+)`/gm)].map((m) => m[1]!).sort();
    expect(documented).toEqual(names);
  });

  it('the Grafana dashboard queries only exported metrics', () => {
    const json = readFileSync(join(root, 'docs/grafana/switchboard.json'), 'utf8');
    JSON.parse(json);
    const used = new Set([...json.matchAll(/switchboard_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')));
    for (const u of used) expect(names, u).toContain(u);
  });
});
