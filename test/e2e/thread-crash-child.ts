/**
 * A Switchboard process for test/e2e/conversation-durability.test.ts: starts the app on SB_DATABASE_URL, sends one
 * batch (SB_CONTACTS, comma-separated) through POST /v1/messages/batch and, the moment the 2xx is in, prints
 * `{"status":…}` and kills itself with SIGKILL (a crash right after the answer: nothing runs after it).
 */
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';

const databaseUrl = process.env.SB_DATABASE_URL!;
const contacts = process.env.SB_CONTACTS!.split(',');
const config = loadConfig({ env: {}, file: null, cwd: process.env.SB_CWD!, overrides: { server: { port: 0 }, databaseUrl, logLevel: 'silent' } });
const built = await buildApp(config, { handleSignals: false });
const url = await built.start();
const res = await fetch(`${url}/v1/messages/batch`, {
  method: 'POST',
  headers: { authorization: `Bearer ${built.devKey!.token}`, 'content-type': 'application/json' },
  body: JSON.stringify({ messages: contacts.map((to) => ({ to, body: `hello ${to}` })) }),
});
process.stdout.write(`${JSON.stringify({ status: res.status })}\n`);
process.kill(process.pid, 'SIGKILL');
