/**
 * The retention job on a real SQLite store: what it redacts/hashes/purges per program, that the ledger is kept,
 * that the nightly trigger runs once per local day across two instances (store lease + day marker), and the
 * `switchboard retention run` command.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { ConsentService } from '../../src/compliance/consent-service.ts';
import { DEFAULT_PROGRAM, type ProgramConfig } from '../../src/compliance/programs.ts';
import { hashNumber } from '../../src/compliance/retention.ts';
import { RetentionScheduler, runRetention } from '../../src/compliance/retention-job.ts';
import { defaultComplianceConfig, type ComplianceConfig } from '../../src/compliance/config.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { insertRecords, makeRecord, tempDir } from '../dispatch/support.ts';
import { captureIo } from '../e2e/support.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 10, 2, 0, 0); // 02:00 UTC
const PEPPER = 'pepper-0123456789abcdef';
const CONTACT = '+14155550123';

const marketing: ProgramConfig = {
  ...(DEFAULT_PROGRAM as ProgramConfig),
  name: 'marketing',
  senders: ['sandbox:+15005550006'],
  retention: { bodyDays: 30, hashNumbers: true, rawWebhookDays: 7 },
};
const alerts: ProgramConfig = { ...(DEFAULT_PROGRAM as ProgramConfig), name: 'alerts', senders: ['sandbox:55501'] };
const compliance: ComplianceConfig = { ...defaultComplianceConfig(), programs: [marketing, alerts], numberHashPepper: PEPPER };
const accounts = [{ name: 'sandbox', senders: [{ from: '+15005550006' }, { from: '55501' }] }];

const tmp = tempDir('sb-retention-');
let store: Store;
let clock: ManualClock;
let consent: ConsentService;

beforeEach(async () => {
  store = createSqliteStore({ path: `${tmp.dir}/${Math.random().toString(36).slice(2)}.db` });
  await store.migrate();
  clock = new ManualClock(NOW);
  consent = new ConsentService({ store, clock, programs: compliance.programs, accounts });
});
afterEach(async () => {
  await store.close();
});

async function seed(): Promise<{ old: string; fresh: string; otherProgram: string }> {
  const old = makeRecord({ now: NOW - 40 * DAY, to: CONTACT, from: '+15005550006', account: 'sandbox' });
  const fresh = makeRecord({ now: NOW - 2 * DAY, to: CONTACT, from: '+15005550006', account: 'sandbox' });
  const otherProgram = makeRecord({ now: NOW - 40 * DAY, to: CONTACT, from: '55501', account: 'sandbox' });
  await insertRecords(store, [old, fresh, otherProgram]);
  for (const m of [old, fresh, otherProgram]) await store.transition({ id: m.id, from: ['queued'], patch: { status: 'delivered', completedAt: m.createdAt + 1 }, now: m.createdAt + 1 });
  await store.insertInbound({ id: 'in_1', provider: 'twilio', account: 'sandbox', providerMessageId: 'SM1', from: CONTACT, to: '+15005550006', body: 'STOP', numMedia: 0, mediaUrls: [], providerKeyword: null, receivedAt: NOW - 35 * DAY });
  await consent.record({ contact: CONTACT, program: 'marketing', state: 'opted_out', source: 'inbound_keyword', at: NOW - 35 * DAY, evidence: { inboundMessageId: 'in_1', keyword: 'STOP' } });
  for (const [k, at] of [['w1', NOW - 8 * DAY], ['w2', NOW - 6 * DAY]] as const) {
    await store.recordWebhook({ provider: 'twilio', kind: 'inbound', dedupeKey: k, receivedAt: at, url: 'https://x', headers: {}, rawBody: 'Body=secret', signatureValid: true });
  }
  return { old: old.id, fresh: fresh.id, otherProgram: otherProgram.id };
}

describe('retention job', () => {
  it('redacts and hashes what the program says, purges old raw webhooks, keeps the ledger; dry run changes nothing', async () => {
    const ids = await seed();
    const dry = await runRetention({ store, clock, compliance, consent }, { dryRun: true });
    expect(dry.plan.find((p) => p.program === 'marketing')).toMatchObject({ bodyBefore: NOW - 30 * DAY, hashNumbers: true, rawWebhookBefore: NOW - 7 * DAY, senders: 1 });
    expect((await store.getMessage(ids.old))!.body).not.toBe('[redacted]');

    const r = await runRetention({ store, clock, compliance, consent }, { batch: 1 });
    expect(r.programs).toEqual([
      { program: 'marketing', bodiesRedacted: 2, numbersHashed: 2, rawWebhooksPurged: 1 },
      { program: 'alerts', bodiesRedacted: 0, numbersHashed: 0, rawWebhooksPurged: 0 },
    ]);
    expect(await store.getMessage(ids.old)).toMatchObject({ body: '[redacted]', to: hashNumber(CONTACT, PEPPER) });
    expect((await store.getMessage(ids.fresh))!.body).not.toBe('[redacted]');
    expect((await store.getMessage(ids.otherProgram))!.to).toBe(CONTACT);
    expect((await store.listInbound({ limit: 5 })).items[0]).toMatchObject({ body: '[redacted]', from: hashNumber(CONTACT, PEPPER) });
    const [h] = await store.listConsentHistory(CONTACT);
    expect(h).toMatchObject({ contact: CONTACT, state: 'opted_out', evidence: { keyword: 'STOP', inboundMessageId: 'in_1' } });
    // Idempotent.
    const again = await runRetention({ store, clock, compliance, consent });
    expect(again.programs.every((p) => p.bodiesRedacted + p.numbersHashed + p.rawWebhooksPurged === 0)).toBe(true);
  });

  it('runs nightly once per local day, on one of two instances', async () => {
    await seed();
    const a = new RetentionScheduler({ store, clock, compliance, consent, owner: 'a' });
    const b = new RetentionScheduler({ store, clock, compliance, consent, owner: 'b' });
    expect(await a.tick()).toBeNull(); // 02:00, the job is at 03:00
    clock.set(NOW + 60 * 60_000);
    const ran = await a.tick();
    expect(ran?.programs[0]).toMatchObject({ program: 'marketing', bodiesRedacted: 2 });
    expect(await b.tick()).toBeNull();
    expect(await a.tick()).toBeNull();
    clock.set(NOW + DAY + 60 * 60_000); // the next night: b may run (a's lease has expired)
    expect(await b.tick()).not.toBeNull();
    expect(await a.tick()).toBeNull();
  });

  it('switchboard retention run [--dry-run]', async () => {
    const dir = tempDir('sb-retention-cli-');
    const env = { SWITCHBOARD_DATABASE_URL: `sqlite:${dir.dir}/s.db`, SWITCHBOARD_LOG_LEVEL: 'silent' };
    const dry = captureIo(env, dir.dir);
    expect(await main(['retention', 'run', '--dry-run'], dry)).toBe(0);
    expect(dry.stdout.join('\n')).toMatch(/No programs configured/);
    const io = captureIo(env, dir.dir);
    expect(await main(['retention', 'run', '--nope'], io)).toBe(2);
    dir.cleanup();
  });
});
