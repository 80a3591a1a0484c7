import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MESSAGE_STATUSES, type MessageStatus, TERMINAL_STATUSES, TRANSITIONS, canTransition, isTerminal, predecessorsOf } from './message.ts';

describe('message state machine', () => {
  it('matches the transition table in docs/reference/lifecycle.md', () => {
    const doc = readFileSync(new URL('../../docs/reference/lifecycle.md', import.meta.url), 'utf8');
    const section = doc.split('## Transition table')[1]!.split('\n## ')[0]!;
    const rows = section
      .split('\n')
      .filter((l) => /^\| [a-z]+ \|/.test(l) && !l.startsWith('| from '))
      .map((l) => l.split('|').map((c) => c.trim()));
    const fromDoc: Record<string, string[]> = {};
    for (const [, from, to] of rows) fromDoc[from!] = to === '—' ? [] : to!.split(',').map((s) => s.trim());
    const fromCode = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, [...TRANSITIONS[s]]]));
    expect(fromDoc).toEqual(fromCode);
  });

  it('terminal statuses have no way out', () => {
    for (const s of MESSAGE_STATUSES) expect(isTerminal(s)).toBe(TERMINAL_STATUSES.includes(s));
  });

  const table: [MessageStatus, MessageStatus, boolean][] = [
    ['queued', 'sending', true],
    ['sending', 'sent', true],
    ['sent', 'delivered', true],
    ['sending', 'delivered', true], // the `sent` callback was lost or arrives late
    ['delivered', 'sent', false], // late `sent` after `delivered`
    ['undelivered', 'delivered', false],
    ['sent', 'sending', false],
    ['sent', 'queued', false],
    ['queued', 'delivered', false],
    ['canceled', 'queued', false],
    ['queued', 'canceled', true],
    ['sending', 'canceled', false], // too late: the provider has it
    ['queued', 'expired', true],
    ['failed', 'delivered', false],
  ];
  for (const [from, to, ok] of table) {
    it(`${from} → ${to} is ${ok ? 'allowed' : 'refused'}`, () => expect(canTransition(from, to)).toBe(ok));
  }

  it('predecessorsOf is the inverse of TRANSITIONS', () => {
    for (const to of MESSAGE_STATUSES) {
      for (const from of MESSAGE_STATUSES) expect(predecessorsOf(to).includes(from)).toBe(canTransition(from, to));
    }
  });
});
