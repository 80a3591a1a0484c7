import { randomFillSync } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** ULID: 48-bit ms timestamp + 80 random bits, Crockford base32, lexicographically sortable by time. */
export function ulid(now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  if (poolPos + 16 > pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  let rand = '';
  for (let i = 0; i < 16; i++) rand += CROCKFORD[pool[poolPos++]! & 31];
  return time + rand;
}

/** Random bytes for ids, drawn from the CSPRNG 4 KiB at a time (one call per 256 ids instead of one per id). */
const pool = Buffer.alloc(4096);
let poolPos = pool.length;

/** Prefixed ids: msg_…, in_…, key_… */
export function newId(prefix: 'msg' | 'in' | 'key' | 'evt' | 'sub', now = Date.now()): string {
  return `${prefix}_${ulid(now).toLowerCase()}`;
}
