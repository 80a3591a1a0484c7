import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERRORS, RETIRED_CODES, SwitchboardError } from './errors.ts';

const DOC = fileURLToPath(new URL('../docs/reference/errors.md', import.meta.url));

/** Rows of the catalogue table: | `SB_…` | status | message | fix | */
function documented(): Map<string, { status: number; message: string; fix: string }> {
  const rows = new Map<string, { status: number; message: string; fix: string }>();
  for (const line of readFileSync(DOC, 'utf8').split('\n')) {
    const m = /^\| `(SB_[A-Z0-9_]+)` \| (\d{3}) \| (.*?) \| (.*) \|$/.exec(line.trim());
    if (m) {
      if (rows.has(m[1]!)) throw new Error(`${m[1]} is documented twice`);
      rows.set(m[1]!, { status: Number(m[2]), message: m[3]!, fix: m[4]!.replace(/\\\|/g, '|') });
    }
  }
  return rows;
}

describe('error catalogue', () => {
  const docs = documented();

  it('documents every code in src/errors.ts, with its status, message and fix', () => {
    const missing = Object.keys(ERRORS).filter((c) => !docs.has(c));
    expect(missing, 'codes missing from docs/reference/errors.md').toEqual([]);
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(docs.get(code), code).toEqual({ status: spec.status, message: spec.message, fix: spec.fix });
    }
  });

  it('documents no code that does not exist', () => {
    const extra = [...docs.keys()].filter((c) => !(c in ERRORS));
    expect(extra, 'codes in docs/reference/errors.md but not in src/errors.ts').toEqual([]);
  });

  it('never reuses a retired code and uses 4xx/5xx statuses only', () => {
    for (const code of RETIRED_CODES) expect(code in ERRORS, code).toBe(false);
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(code, code).toMatch(/^SB_[A-Z0-9_]+$/);
      expect(spec.status >= 400 && spec.status < 600, code).toBe(true);
    }
  });

  it('serialises as { error: { code, message, field? } }', () => {
    expect(new SwitchboardError('SB_VALIDATION', { field: 'to', message: 'x' }).toBody()).toEqual({ error: { code: 'SB_VALIDATION', message: 'x', field: 'to' } });
    expect(new SwitchboardError('SB_NOT_FOUND').toBody()).toEqual({ error: { code: 'SB_NOT_FOUND', message: ERRORS.SB_NOT_FOUND.message } });
  });
});
