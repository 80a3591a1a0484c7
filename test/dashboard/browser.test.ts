/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core, against buildApp on 127.0.0.1:0
 * with the in-process sandbox. Log in with the development key, send a message through the API, find it by number,
 * open its timeline and see `delivered`; the overview charts render with data; a sandbox handset shows the message
 * and replies from the page; the handset replies STOP and the Contacts page shows the contact opted out (with the
 * STOP as evidence) while a message queued to it ends failed with SB_OPTED_OUT; an operator opts it back in with a
 * note from the page; log out.
 *
 * Chromium: /usr/bin/chromium (`apt-get install -y chromium`; .ci/run installs it). SB_SCREENSHOTS=1 writes a
 * screenshot of each page to docs/screenshots/ (used by docs/reference/dashboard.md).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { contractMessage } from '../../src/store/contract/store-contract.ts';
import { startTestApp, tempDir, waitFor } from '../e2e/support.ts';

const CHROMIUM = process.env.SB_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = process.env.SB_SCREENSHOTS === '1' ? join(import.meta.dirname, '../../docs/screenshots') : null;

let built: App;
let url: string;
let token: string;
let browser: BrowserContext;
let page: Page;
const tmp = tempDir('sb-browser-');
const profile = mkdtempSync(join(tmpdir(), 'sb-chromium-'));

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set SB_CHROMIUM)`);
  ({ built, url } = await startTestApp(tmp.dir, { sandbox: { latency: { sendingMs: 5, sentMs: 20, deliveredMs: 40 } } }));
  token = built.devKey!.token;
  // A fresh profile directory per run (Playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(15_000);
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await built?.close();
  tmp.cleanup();
  rmSync(profile, { recursive: true, force: true });
});

async function shot(name: string): Promise<void> {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function send(to: string, body: string, from?: string): Promise<string> {
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ to, body, ...(from ? { from } : {}) }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

describe('dashboard in Chromium', () => {
  it('redirects to the login page, refuses a bad key, logs in with the dev key', async () => {
    await page.goto(`${url}/dashboard/messages`);
    expect(new URL(page.url()).pathname).toBe('/dashboard/login');
    await shot('login');
    await page.fill('input[name="key"]', 'sb_live_not_a_real_key');
    await page.click('button[type="submit"]');
    expect(await page.textContent('[role="alert"]')).toContain('Unknown or revoked API key');
    await page.fill('input[name="key"]', token);
    await page.click('button[type="submit"]');
    await page.waitForURL(`${url}/dashboard/messages`);
    expect(await page.textContent('h1')).toBe('Messages');
  });

  it('finds a message sent through the API by number and shows its delivered timeline', async () => {
    const to = '+14155550142';
    const id = await send(to, 'Hello from the browser test');
    await send('+15005550010', 'This one is undelivered (30003)', '55501');
    await send('+14155550143', 'Another one', '55501');
    await page.goto(`${url}/dashboard/messages`);
    await page.fill('input[name="to"]', to);
    await page.click('form.filters button[type="submit"]');
    await page.waitForSelector(`tr[data-id="${id}"]`);
    expect(await page.$$eval('#messages tbody tr[data-id]', (rows) => rows.map((r) => r.getAttribute('data-id')))).toEqual([id]);
    await page.click(`tr[data-id="${id}"] a[href="/dashboard/messages/${id}"]`);
    await page.waitForURL(`${url}/dashboard/messages/${id}`);
    // Delivery is asynchronous (dispatcher → sandbox → signed callbacks): reload until the page shows it.
    await waitFor('delivered on the message page', async () => {
      await page.reload();
      return (await page.textContent('#message-status')) === 'delivered' ? true : undefined;
    });
    const events = await page.$$eval('#timeline tr[data-event]', (rows) => rows.map((r) => r.getAttribute('data-event')));
    // The path in order (other steps, e.g. consent checks, may sit between them).
    const path = ['accepted', 'submit_started', 'submitted', 'status'];
    expect(events.filter((e) => path.includes(e!))).toEqual([...path.slice(0, 3), ...events.filter((e) => e === 'status')]);
    expect(events.filter((e) => e === 'status').length).toBeGreaterThanOrEqual(1);
    expect(await page.$$eval('#timeline [data-status]', (els) => els.map((e) => e.textContent))).toContain('delivered');
    await shot('message');
    await page.goto(`${url}/dashboard/messages`);
    await shot('messages');
  });

  it('overview charts render with data', async () => {
    await waitFor('all three messages final', async () => {
      const c = await built.store.countByStatus();
      return c.delivered >= 2 && c.undelivered >= 1 ? c : undefined;
    });
    await page.goto(`${url}/dashboard/overview?range=1h`);
    const delivered = await page.$$eval('#chart-volume rect[data-series="delivered"]', (rs) => rs.reduce((s, r) => s + Number(r.getAttribute('data-value')), 0));
    expect(delivered).toBe(2);
    const box = await page.locator('#chart-volume').boundingBox();
    expect(box!.width).toBeGreaterThan(300);
    expect(box!.height).toBeGreaterThan(50);
    const bar = await page.locator('#chart-volume rect[data-series="delivered"]').first().boundingBox();
    expect(bar!.height).toBeGreaterThan(5);
    expect(await page.$$eval('#chart-errors rect[data-series]', (rs) => rs.map((r) => r.getAttribute('data-series')))).toEqual(['30003']);
    expect(await page.textContent('[data-kpi="delivery-rate"] b')).toBe('66.7%');
    expect(await page.$$eval('#latency tbody tr', (rs) => rs.length)).toBe(2);
    await shot('overview');
  });

  it('sandbox phones: the handset shows the message and replies from the page', async () => {
    await page.goto(`${url}/dashboard/phones`);
    await page.click('#phone-list a:has-text("+14155550142")');
    await page.waitForSelector('#inbox .bubble.received');
    expect(await page.textContent('#inbox')).toContain('Hello from the browser test');
    await page.fill('textarea[name="body"]', 'Thanks, got it');
    await page.selectOption('select[name="to"]', '+15005550006');
    await page.click('#reply-form button[type="submit"]');
    await page.waitForSelector('.notice');
    expect(await page.textContent('#inbox')).toContain('Thanks, got it');
    // The reply went through the real inbound webhook path into the store.
    const inbound = await waitFor('inbound stored', async () => {
      const r = await built.store.listInbound({ from: '+14155550142', limit: 10 });
      return r.items.length > 0 ? r.items : undefined;
    });
    expect(inbound[0]!.body).toBe('Thanks, got it');
    await shot('phones');
  });

  it('STOP from a sandbox handset: the Contacts page shows the contact opted out, a queued message to it fails', async () => {
    const handset = '+14155550142';
    // A message to the handset waiting in the queue (its next attempt is an hour away, as after a retry backoff).
    const now = Date.now();
    const waiting = { ...contractMessage({ now, account: 'sandbox', from: '+15005550006', to: handset, body: 'Your order shipped', nextAttemptAt: now + 3_600_000 }) };
    await built.store.insertMessages([{ message: waiting, events: [{ messageId: waiting.id, type: 'accepted', status: 'queued', at: now, detail: null }] }]);

    await page.goto(`${url}/dashboard/phones?number=${encodeURIComponent(handset)}`);
    await page.fill('textarea[name="body"]', 'STOP');
    await page.selectOption('select[name="to"]', '+15005550006');
    await page.click('#reply-form button[type="submit"]');
    await page.waitForSelector('.notice');
    // The long code of a "switchboard" program has the carrier's keyword filtering off: Switchboard handles the STOP.
    expect(await page.textContent('.notice')).toBe(`Sent from ${handset}.`);

    // The inbound webhook is asynchronous: reload the contact's page until the ledger shows the opt-out.
    await page.goto(`${url}/dashboard/contacts`);
    await page.fill('input[name="contact"]', handset);
    await page.click('form.filters button:has-text("Look up")');
    await page.waitForURL(`${url}/dashboard/contacts?contact=${encodeURIComponent(handset)}`);
    await waitFor('opted out on the Contacts page', async () => {
      await page.reload();
      return (await page.getAttribute('#consent-states tr[data-program="default"] [data-consent]', 'data-consent')) === 'opted_out' ? true : undefined;
    });
    const stop = page.locator('#consent-history tr[data-source="inbound_keyword"]');
    expect(await stop.getAttribute('data-state')).toBe('opted_out');
    expect(await stop.locator('[data-evidence="inbound"]').textContent()).toContain('STOP');
    expect(await page.$$eval('#opt-out-list tr[data-contact]', (rs) => rs.map((r) => r.getAttribute('data-contact')))).toContain(handset);
    await shot('contacts');

    // The queued message was failed by the opt-out, before it could be sent.
    await page.goto(`${url}/dashboard/messages/${waiting.id}`);
    expect(await page.textContent('#message-status')).toBe('failed');
    expect(await page.textContent('#message-facts [data-code]')).toContain('SB_OPTED_OUT');
    // Its number links back to the contact.
    await page.click('#message-facts a.contact-link');
    await page.waitForSelector('#contact');
    expect(await page.getAttribute('#contact', 'data-contact')).toBe(handset);

    // Re-subscribing someone who texted STOP needs a note: without one the page refuses it.
    await page.selectOption('#consent-form select[name="state"]', 'opted_in');
    await page.click('#consent-form button[type="submit"]');
    expect(await page.textContent('[role="alert"]')).toContain('SB_CONSENT_EVIDENCE_REQUIRED');
    await page.selectOption('#consent-form select[name="state"]', 'opted_in');
    await page.fill('#consent-form input[name="note"]', 'Customer asked to resubscribe by phone');
    await page.click('#consent-form button[type="submit"]');
    await page.waitForSelector('.notice');
    expect(await page.getAttribute('#consent-states tr[data-program="default"] [data-consent]', 'data-consent')).toBe('opted_in');
    const mine = page.locator('#consent-history tr[data-source="dashboard"]');
    expect(await mine.locator('[data-evidence="note"]').textContent()).toContain('Customer asked to resubscribe by phone');
    expect(await mine.locator('[data-evidence="who"]').textContent()).toContain(built.devKey!.name);
  });

  it('alerts page renders; logout ends the session', async () => {
    await page.goto(`${url}/dashboard/alerts`);
    expect(await page.textContent('h1')).toBe('Alerts');
    await shot('alerts');
    await page.click('header button:has-text("Log out")');
    await page.waitForURL(`${url}/dashboard/login`);
    await page.goto(`${url}/dashboard/overview`);
    expect(new URL(page.url()).pathname).toBe('/dashboard/login');
  });
});
