/**
 * One INSERT … SELECT that queues `n` messages (a recursive CTE on SQLite, generate_series on PostgreSQL): how the
 * depth benchmarks load 1M rows in seconds instead of through the API. Rows are as the accept pipeline stores them:
 * queued, due, valid for 30 days, oldest first, spread round-robin over the senders.
 */
import { DEFAULT_PRIORITY, type Category } from '../../src/domain/message.ts';
import { recipient } from './harness.ts';

export interface BulkQueueOptions {
  n: number;
  account: string;
  /** From numbers, message i goes from senders[i % length]. */
  senders: readonly string[];
  /** createdAt of the last row; row i is created at now − n + i and due at now − 1. */
  now: number;
  category: Category;
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

export function queuedRowsSql(engine: 'sqlite' | 'postgres', table: string, o: BulkQueueOptions): string {
  if (!Number.isInteger(o.n) || o.n < 1) throw new Error(`n must be a positive integer, got ${o.n}`);
  // recipient(i) is '+1415555' + (1000 + i % 9000): the same numbers the other benchmarks use.
  if (recipient(1) !== '+14155551001') throw new Error('recipient() changed: update bulk-queue.ts');
  const sendersValues = o.senders.map((s, k) => `(${k}, ${lit(s)})`).join(', ');
  const priority = DEFAULT_PRIORITY[o.category];
  const cols: [string, string][] = [
    ['id', `'msg_bulk_' || c.i`],
    ['account', lit(o.account)],
    ['provider', `'twilio'`],
    ['to_number', `'+1415555' || (1000 + c.i % 9000)`],
    ['from_number', 's.num'],
    ['body', `'bulk backlog ' || c.i`],
    ['segments', '1'],
    ['encoding', `'GSM-7'`],
    ['category', lit(o.category)],
    ['priority', String(priority)],
    ['status', `'queued'`],
    ['submit_state', `'none'`],
    ['attempts', '0'],
    ['next_attempt_at', String(o.now - 1)],
    ['expires_at', String(o.now + 30 * 86_400_000)],
    ['created_at', `${o.now - o.n} + c.i`],
    ['updated_at', `${o.now - o.n} + c.i`],
  ];
  const names = cols.map(([c]) => c).join(', ');
  const exprs = cols.map(([, e]) => e).join(', ');
  if (engine === 'sqlite') {
    return `INSERT INTO ${table} (${names})
      WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ${o.n - 1}),
           s(k, num) AS (VALUES ${sendersValues})
      SELECT ${exprs} FROM c JOIN s ON s.k = c.i % ${o.senders.length}`;
  }
  return `INSERT INTO ${table} (${names})
    SELECT ${exprs} FROM generate_series(0, ${o.n - 1}) AS c(i) JOIN (VALUES ${sendersValues}) AS s(k, num) ON s.k = c.i % ${o.senders.length}
    ORDER BY c.i`;
}
