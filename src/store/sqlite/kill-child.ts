/**
 * Child process for the SIGKILL durability test (sqlite-store.test.ts): inserts batches of messages into the SQLite
 * file given as argv[2] and, after each `insertMessages` resolves, prints the acknowledged ids as one JSON line.
 * It never stops on its own; the test kills it with SIGKILL while it is writing.
 */
import { newId } from '../../domain/ids.ts';
import type { MessageRecord } from '../../domain/message.ts';
import { createSqliteStore } from './sqlite-store.ts';

const path = process.argv[2];
if (!path) throw new Error('usage: kill-child.ts <db file>');
const store = createSqliteStore({ path });
await store.migrate();

let n = 0;
for (;;) {
  const now = Date.now();
  const batch: MessageRecord[] = Array.from({ length: 100 }, () => {
    n++;
    return {
      id: newId('msg', now),
      keyId: 'kill-test',
      account: 'sandbox',
      provider: 'twilio',
      to: '+14155550100',
      from: '+15005550006',
      body: `durability ${n}`,
      segments: 1,
      encoding: 'GSM-7',
      category: 'transactional',
      priority: 5,
      status: 'queued',
      submitState: 'none',
      metadata: null,
      idempotencyKey: `k-${n}`,
      requestHash: null,
      providerMessageId: null,
      providerStatus: null,
      errorCode: null,
      errorMessage: null,
      attempts: 0,
      nextAttemptAt: now,
      expiresAt: now + 3_600_000,
      leaseOwner: null,
      leaseExpiresAt: null,
      createdAt: now,
      updatedAt: now,
      submittedAt: null,
      completedAt: null,
    };
  });
  const out = await store.insertMessages(batch.map((message) => ({ message, events: [{ messageId: message.id, type: 'accepted', status: 'queued', at: now, detail: null }] })));
  process.stdout.write(`${JSON.stringify({ acked: out.map((o) => (o.inserted ? o.message.id : o.existing.id)) })}\n`);
  // Yield so the stdout write is flushed and the parent can kill us between or during batches.
  await new Promise((r) => setImmediate(r));
}
