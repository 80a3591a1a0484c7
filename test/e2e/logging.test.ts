/**
 * Logs never carry message bodies or full phone numbers: a whole send → deliver → list → inbound reply cycle at
 * `trace` level, captured from pino, is searched for the body texts and the full numbers.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { tempDir, waitFor } from './support.ts';

const tmp = tempDir('sb-log-');
afterAll(() => tmp.cleanup());

describe('logging', () => {
  it('contains neither bodies nor full numbers', async () => {
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString();
        done();
      },
    });
    const config = loadConfig({
      env: {},
      cwd: tmp.dir,
      file: null,
      overrides: { server: { port: 0 }, databaseUrl: `sqlite:${tmp.dir}/log.db`, sandbox: { latency: { sendingMs: 5, sentMs: 10, deliveredMs: 20 } } },
    });
    const built = await buildApp(config, { log: pino({ level: 'trace' }, sink), handleSignals: false });
    const handset = '+14155550199';
    const secretBody = 'Your one-time code is 483920-SECRET';
    const replyBody = 'Reply text SECRET-2';
    try {
      const url = await built.start();
      const auth = { authorization: `Bearer ${built.devKey!.token}` };
      const ok = await fetch(`${url}/v1/messages`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ to: handset, body: secretBody, category: 'otp' }),
      });
      expect(ok.status).toBe(202);
      const id = ((await ok.json()) as { id: string }).id;
      await waitFor('delivered', async () => ((await built.store.getMessage(id))?.status === 'delivered' ? true : undefined));
      expect((await fetch(`${url}/v1/messages?to=%2B14155550199`, { headers: auth })).status).toBe(200);
      expect((await fetch(`${url}/v1/messages?to=+14155550199`, { headers: auth })).status).toBe(200);
      await built.sandbox!.reply({ from: handset, to: '+15005550006', body: replyBody });
      await waitFor('the inbound message stored', async () => ((await built.store.listInbound({ limit: 5 })).items.length > 0 ? true : undefined));
    } finally {
      await built.close();
    }
    expect(text).toContain('message accepted');
    expect(text).toContain('*******0199');
    for (const secret of [secretBody, '483920', replyBody, handset, '14155550199', '4155550199']) {
      const line = text.split('\n').find((l) => l.includes(secret));
      expect(line, `logged "${secret}"`).toBeUndefined();
    }
  });
});
