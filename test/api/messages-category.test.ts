/** GET /v1/messages?category= filters in the store (MessageQuery.category); an unknown category is a 400. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiHarness, errorOf, type Harness } from './support.ts';

let h: Harness;
beforeAll(async () => {
  h = await apiHarness();
});
afterAll(async () => {
  await h.close();
});

describe('GET /v1/messages?category=', () => {
  it('lists only the category asked for, combined with the other filters and paging', async () => {
    const sent: { id: string; category: string; to: string }[] = [];
    for (const [i, category] of (['otp', 'promotional', 'transactional', 'otp', 'promotional', 'otp'] as const).entries()) {
      const to = `+1415555010${i % 2}`;
      const res = await h.req({ method: 'POST', url: '/v1/messages', payload: { to, body: `m${i}`, category } });
      expect(res.statusCode).toBe(202);
      sent.unshift({ id: (res.json() as { id: string }).id, category, to });
      h.clock.advance(1_000);
    }
    const ids = (category: string, to?: string) => sent.filter((m) => m.category === category && (!to || m.to === to)).map((m) => m.id);
    const list = async (qs: string) => {
      const res = await h.req({ method: 'GET', url: `/v1/messages?${qs}` });
      expect(res.statusCode, qs).toBe(200);
      return res.json() as { items: { id: string; category: string }[]; nextCursor: string | null };
    };
    expect(ids('otp')).toHaveLength(3);
    expect((await list('category=otp')).items.map((m) => m.id)).toEqual(ids('otp'));
    expect((await list('category=promotional&to=%2B14155550101')).items.map((m) => m.id)).toEqual(ids('promotional', '+14155550101'));
    expect(ids('promotional', '+14155550101')).toHaveLength(1);
    expect((await list('category=transactional&to=%2B14155550101')).items).toEqual([]);
    const first = await list('category=otp&limit=2');
    expect(first.items.map((m) => m.id)).toEqual(ids('otp').slice(0, 2));
    const second = await list(`category=otp&limit=2&cursor=${first.nextCursor}`);
    expect(second.items.map((m) => m.id)).toEqual(ids('otp').slice(2));
    expect(second.nextCursor).toBeNull();
    const bad = await h.req({ method: 'GET', url: '/v1/messages?category=marketing' });
    expect(bad.statusCode).toBe(400);
    expect(errorOf(bad).code).toBe('SB_VALIDATION');
  });
});
