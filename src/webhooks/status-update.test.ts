import { describe, expect, it } from 'vitest';
import type { MessageRecord, MessageStatus, SubmitState } from '../domain/message.ts';
import { mapTwilioStatus } from '../providers/twilio/status-map.ts';
import { decideStatusUpdate, type StatusCallback } from './status-update.ts';

const NOW = Date.UTC(2026, 0, 1, 12);

function msg(status: MessageStatus, over: Partial<MessageRecord> = {}): MessageRecord {
  return {
    id: 'msg_1', keyId: null, account: 'sandbox', provider: 'twilio', to: '+14155550100', from: '+15005550006', body: 'hi',
    segments: 1, encoding: 'GSM-7', category: 'transactional', priority: 5, status, submitState: 'accepted', metadata: null,
    idempotencyKey: null, requestHash: null, providerMessageId: 'SM1', providerStatus: 'queued', errorCode: null, errorMessage: null,
    attempts: 1, nextAttemptAt: 0, expiresAt: NOW + 3_600_000, leaseOwner: null, leaseExpiresAt: null, createdAt: 0, updatedAt: 0,
    submittedAt: 0, completedAt: null, ...over,
  };
}

function cb(providerStatus: string, errorCode: string | null = null): StatusCallback {
  return { providerMessageId: 'SM1', providerStatus, mapped: mapTwilioStatus(providerStatus), errorCode, errorMessage: errorCode ? `meaning ${errorCode}` : null };
}

describe('decideStatusUpdate', () => {
  it.each<[MessageStatus, string, 'advance' | 'refresh' | 'record', string | null]>([
    // current, Twilio status, action, reason / target
    ['sending', 'sent', 'advance', 'sent'],
    ['sending', 'delivered', 'advance', 'delivered'],
    ['sending', 'undelivered', 'advance', 'undelivered'],
    ['sending', 'failed', 'advance', 'failed'],
    ['sent', 'delivered', 'advance', 'delivered'],
    ['sent', 'read', 'advance', 'delivered'],
    ['sent', 'undelivered', 'advance', 'undelivered'],
    ['sent', 'failed', 'advance', 'failed'],
    ['queued', 'failed', 'advance', 'failed'],
    ['sending', 'queued', 'refresh', null],
    ['sending', 'accepted', 'refresh', null],
    ['sending', 'sending', 'refresh', null],
    ['sent', 'sent', 'refresh', null],
    ['delivered', 'delivered', 'refresh', null],
    ['delivered', 'read', 'refresh', null],
    ['delivered', 'sent', 'record', 'final'],
    ['delivered', 'queued', 'record', 'final'],
    ['delivered', 'undelivered', 'record', 'final'],
    ['undelivered', 'delivered', 'record', 'final'],
    ['failed', 'sent', 'record', 'final'],
    ['expired', 'delivered', 'record', 'final'],
    ['sent', 'queued', 'record', 'out_of_order'],
    ['sent', 'sending', 'record', 'out_of_order'],
    ['sent', 'canceled', 'record', 'out_of_order'],
    ['queued', 'sent', 'record', 'out_of_order'],
    ['queued', 'queued', 'record', 'out_of_order'],
    ['sending', 'received', 'record', 'unmapped_status'],
    ['sending', 'something_new', 'record', 'unmapped_status'],
  ])('%s + Twilio %s → %s (%s)', (current, twilio, action, detail) => {
    const d = decideStatusUpdate(msg(current), cb(twilio), NOW);
    expect(d.action).toBe(action);
    if (d.action === 'advance') {
      expect(d.to).toBe(detail);
      expect(d.from).toContain(current);
      expect(d.patch.status).toBe(detail);
      expect(d.patch.providerStatus).toBe(twilio);
    } else if (d.action === 'refresh') {
      expect(d.from).toEqual([current]);
      expect(d.patch).toEqual({ providerStatus: twilio });
    } else {
      expect(d.reason).toBe(detail);
    }
  });

  it('terminal moves set completedAt; sent does not', () => {
    const d1 = decideStatusUpdate(msg('sent'), cb('delivered'), NOW);
    expect(d1.action === 'advance' && d1.patch.completedAt).toBe(NOW);
    const d2 = decideStatusUpdate(msg('sending'), cb('sent'), NOW);
    expect(d2.action === 'advance' && 'completedAt' in d2.patch).toBe(false);
  });

  it('keeps the error code and its meaning', () => {
    const d = decideStatusUpdate(msg('sent'), cb('undelivered', '30003'), NOW);
    expect(d).toMatchObject({ action: 'advance', patch: { status: 'undelivered', errorCode: '30003', errorMessage: 'meaning 30003', completedAt: NOW } });
  });

  it.each<[SubmitState, string | null, Record<string, unknown>]>([
    // The callback overtook the submit response (in_flight) or an ambiguous submit: the provider has it.
    ['in_flight', null, { submitState: 'accepted', providerMessageId: 'SM1' }],
    ['ambiguous', null, { submitState: 'accepted', providerMessageId: 'SM1' }],
    ['accepted', 'SM1', {}],
  ])('submitState %s, providerMessageId %s → extra patch %j', (submitState, providerMessageId, extra) => {
    const d = decideStatusUpdate(msg('sending', { submitState, providerMessageId }), cb('sent'), NOW);
    expect(d.action).toBe('advance');
    if (d.action !== 'advance') return;
    expect(d.patch).toEqual({ status: 'sent', providerStatus: 'sent', ...extra });
  });

  it('never overwrites a known provider id with another one', () => {
    const d = decideStatusUpdate(msg('sending', { providerMessageId: 'SMother' }), cb('sent'), NOW);
    expect(d.action === 'advance' && 'providerMessageId' in d.patch).toBe(false);
  });
});
