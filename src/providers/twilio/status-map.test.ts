import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { MessageStatus } from '../../domain/message.ts';
import { mapTwilioStatus, TWILIO_STATUS_MAP } from './status-map.ts';

/**
 * Twilio's own list, read from Twilio's OpenAPI spec (the vendored copy of twilio/twilio-oai in src/sandbox/fixtures),
 * so a status Twilio adds fails this test until it is mapped.
 */
const SPEC = fileURLToPath(new URL('../../sandbox/fixtures/twilio-oai/twilio_api_v2010.json', import.meta.url));
const spec = JSON.parse(readFileSync(SPEC, 'utf8')) as {
  components: { schemas: Record<string, { enum?: string[] }> };
};
const TWILIO_ENUM = spec.components.schemas['message_enum_status']?.enum ?? [];

const EXPECTED: Record<string, MessageStatus | null> = {
  accepted: 'sending',
  scheduled: 'sending',
  queued: 'sending',
  sending: 'sending',
  sent: 'sent',
  partially_delivered: 'sent',
  delivered: 'delivered',
  read: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
  canceled: 'canceled',
  receiving: null,
  received: null,
};

describe('mapTwilioStatus', () => {
  it('the spec enum is present and non-trivial', () => {
    expect(TWILIO_ENUM.length).toBeGreaterThanOrEqual(13);
  });

  it('maps every value of message_enum_status, and nothing else', () => {
    expect(Object.keys(TWILIO_STATUS_MAP).sort()).toEqual([...TWILIO_ENUM].sort());
    expect(Object.keys(EXPECTED).sort()).toEqual([...TWILIO_ENUM].sort());
  });

  it.each(TWILIO_ENUM.map((s) => [s, EXPECTED[s]] as const))('%s → %s', (twilio, ours) => {
    expect(mapTwilioStatus(twilio)).toBe(ours);
  });

  it.each(['', 'DELIVERED', 'unknown', 'toString', '__proto__', 'constructor'])('undocumented %j → null', (s) => {
    expect(mapTwilioStatus(s)).toBeNull();
  });
});
