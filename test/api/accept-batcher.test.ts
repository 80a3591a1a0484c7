/** Single sends arriving in one event-loop turn are checked and stored together (src/api/accept-batcher.ts). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAcceptBatcher, type AcceptItem } from '../../src/api/accept-batcher.ts';
import { SwitchboardError } from '../../src/errors.ts';
import { contractMessage } from '../../src/store/contract/store-contract.ts';
import type { Store } from '../../src/store/store.ts';
import { apiHarness, type Harness } from './support.ts';

let h: Harness;
beforeEach(async () => {
  h = await apiHarness();
});
afterEach(async () => {
  await h.close();
});

/** The real store, counting the calls (and their sizes) that reach it. */
function counting(store: Store): { store: Pick<Store, 'insertMessages'>; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    store: {
      insertMessages: (items) => {
        calls.push(items.length);
        return store.insertMessages(items);
      },
    },
  };
}

function item(i: number, idempotencyKey: string | null = null): AcceptItem {
  const now = h.clock.now();
  const message = { ...contractMessage({ now, id: `msg_batch${String(i).padStart(4, '0')}`, keyId: 'key_x', to: `+1415555${String(1000 + i)}`, idempotencyKey }), requestHash: idempotencyKey === null ? null : 'h' };
  return { message, events: [{ messageId: message.id, type: 'accepted', status: 'queued', at: now, detail: null }] };
}

describe('accept batcher', () => {
  it('stores the sends of one turn with one insert, each with its own outcome, durably before they settle', async () => {
    const c = counting(h.store);
    const accept = createAcceptBatcher(c.store);
    const outs = await Promise.all([0, 1, 2, 3, 4].map((i) => accept(item(i))));
    expect(c.calls).toEqual([5]);
    outs.forEach((o, i) => {
      expect(o.refused).toBeNull();
      if (o.refused === null) expect(o.outcome).toMatchObject({ inserted: true, message: { id: item(i).message.id } });
    });
    for (let i = 0; i < 5; i++) expect((await h.store.getMessage(item(i).message.id))?.status).toBe('queued');
  });

  it('sends of different turns are separate batches', async () => {
    const c = counting(h.store);
    const accept = createAcceptBatcher(c.store);
    await accept(item(0));
    await accept(item(1));
    expect(c.calls).toEqual([1, 1]);
  });

  it('a refused send is not stored; the others of its batch are', async () => {
    const c = counting(h.store);
    const refusal = new SwitchboardError('SB_OPTED_OUT', { field: 'to' });
    const accept = createAcceptBatcher(c.store, { checkAccept: async (ms) => ms.map((m) => (m.id === item(1).message.id ? refusal : null)) });
    const outs = await Promise.all([0, 1, 2].map((i) => accept(item(i))));
    expect(outs[1]!.refused).toBe(refusal);
    expect(outs[0]!.refused).toBeNull();
    expect(outs[2]!.refused).toBeNull();
    expect(c.calls).toEqual([2]);
    expect(await h.store.getMessage(item(1).message.id)).toBeNull();
    expect(await h.store.getMessage(item(2).message.id)).not.toBeNull();
  });

  it('two sends with the same idempotency key in one batch: one is stored, the other gets it back', async () => {
    const accept = createAcceptBatcher(h.store);
    const a = item(0, 'same');
    const b = item(1, 'same');
    const [oa, ob] = await Promise.all([accept(a), accept(b)]);
    expect(oa!.refused === null && oa!.outcome.inserted).toBe(true);
    expect(ob!.refused === null && !ob!.outcome.inserted && ob!.outcome.existing.id).toBe(a.message.id);
  });

  it('a failing check rejects every send of its batch and stores none', async () => {
    const c = counting(h.store);
    const accept = createAcceptBatcher(c.store, {
      checkAccept: async () => {
        throw new Error('ledger unavailable');
      },
    });
    const outs = await Promise.allSettled([0, 1].map((i) => accept(item(i))));
    expect(outs.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(c.calls).toEqual([]);
  });
});
