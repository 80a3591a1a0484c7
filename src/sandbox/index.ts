/**
 * The Twilio-compatible sandbox carrier. Composition root: `createSandbox(opts)` + `sandboxPlugin` (mount at
 * /sandbox); CLI: `startSandboxServer(opts)` and `createControlClient({ baseUrl })`. Reference: docs/reference/sandbox.md.
 */
export {
  createSandbox,
  SandboxEngine,
  DEFAULT_SANDBOX_NUMBERS,
  DEFAULT_SANDBOX_LATENCY,
  DEFAULT_SANDBOX_MPS,
  SANDBOX_SENDER_TYPES,
  SANDBOX_TEST_ACCOUNT_SID,
  SANDBOX_TEST_AUTH_TOKEN,
  type SandboxOptions,
  type SandboxNumberSpec,
  type SandboxAccountSpec,
  type SandboxSenderType,
  type SandboxLatency,
  type SandboxMessage,
  type Submission,
  type CallbackRecord,
  type PhoneEntry,
  type ReplyInput,
  type ReplyResult,
} from './engine.ts';
export { sandboxPlugin, type SandboxPluginOptions } from './plugin.ts';
export { startSandboxServer, type SandboxServer, type SandboxServerOptions } from './server.ts';
export { createControlClient, SandboxControlError, type SandboxControlClient, type ControlClientOptions } from './control-client.ts';
export { FaultRegistry, type FaultSpec, type FaultKind } from './faults.ts';
export { SANDBOX_NUMBERS } from './magic.ts';
