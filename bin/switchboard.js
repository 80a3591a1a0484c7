#!/usr/bin/env node
// Entry point for the `switchboard` command. Sources are TypeScript, loaded through tsx,
// so `npm ci && npm start` needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
