/**
 * Routing: which provider account and which sender a message goes out through. Pure, over the config.
 * Documented in docs/reference/processing.md ("Routing").
 *
 * Account:
 * 1. The key's account: `key.account` (set on the key) or `routing.byKey[key.name]`. A key bound to an account may
 *    only use that account. An unbound key may use every configured account.
 * 2. Explicit `from`: the account (among those the key may use) that has that sender; the default account is searched
 *    first, then the others in config order. Not found → SB_SENDER_UNKNOWN (field `from`).
 * 3. No `from`: the key's account, else `routing.defaultAccount`. A name that is not a configured account → SB_NO_ROUTE.
 *
 * Sender, when `from` is omitted (config order is the operator's order of preference):
 * - WhatsApp recipient (`whatsapp:+…`): the account's first `whatsapp` sender.
 * - SMS, `promotional`: the first `short_code` sender if the account has one (bulk throughput), else the first SMS sender.
 * - SMS, `otp` / `transactional`: the first SMS sender (any type but `whatsapp`).
 * - None suitable → SB_NO_ROUTE (field `to` for WhatsApp, else none).
 *
 * Matching an explicit `from`: exact string, or the same number once both are normalised to E.164 (so "+1 (500)
 * 555-0006" finds "+15005550006"). A `whatsapp:`-prefixed `from` matches only `whatsapp` senders (configured with or
 * without the prefix), and a WhatsApp recipient needs a WhatsApp sender, an SMS recipient a non-WhatsApp one:
 * a mismatch is SB_SENDER_UNKNOWN (field `from`).
 */
import type { Config, SenderConfig, TwilioAccountConfig } from '../config/schema.ts';
import type { Category } from '../domain/message.ts';
import { isWhatsAppAddress, normalizePhone } from './phone.ts';

export type RouteResult =
  | { ok: true; account: TwilioAccountConfig; sender: SenderConfig }
  | { ok: false; code: 'SB_SENDER_UNKNOWN' | 'SB_NO_ROUTE'; field?: string; reason: string };

export type Channel = 'sms' | 'whatsapp';

export interface RouteOptions {
  /** Default `transactional`. */
  category?: Category;
  /** Default `sms`; `whatsapp` when the recipient is a `whatsapp:` address. */
  channel?: Channel;
}

const WHATSAPP = 'whatsapp:';

function stripWhatsApp(s: string): string {
  return isWhatsAppAddress(s) ? s.slice(WHATSAPP.length) : s;
}

/** Canonical form of a sender address for comparison: E.164 when it parses as a number, else trimmed as is. */
function canonical(address: string, defaultCountry: string | null): string {
  const bare = stripWhatsApp(address.trim());
  if (!bare.startsWith('+')) return bare; // short codes and alphanumeric ids compare as written
  const n = normalizePhone(bare, defaultCountry);
  return n.ok ? n.e164 : bare;
}

function senderMatches(sender: SenderConfig, from: string, defaultCountry: string | null): boolean {
  if (sender.from === from) return true;
  if (isWhatsAppAddress(from) && sender.type !== 'whatsapp') return false;
  return canonical(sender.from, defaultCountry) === canonical(from, defaultCountry);
}

/** The address a sender puts in the provider's From: WhatsApp senders always carry the `whatsapp:` prefix. */
export function senderAddress(sender: SenderConfig): string {
  if (sender.type !== 'whatsapp' || isWhatsAppAddress(sender.from)) return sender.from;
  return WHATSAPP + sender.from;
}

/** The account's sender for a message without `from` (see the rules above), or undefined. */
export function pickSender(senders: readonly SenderConfig[], category: Category, channel: Channel): SenderConfig | undefined {
  if (channel === 'whatsapp') return senders.find((s) => s.type === 'whatsapp');
  const sms = senders.filter((s) => s.type !== 'whatsapp');
  if (category === 'promotional') return sms.find((s) => s.type === 'short_code') ?? sms[0];
  return sms[0];
}

export function route(
  cfg: Config,
  key: { name: string; account: string | null },
  from?: string,
  opts: RouteOptions = {},
): RouteResult {
  const category = opts.category ?? 'transactional';
  const channel = opts.channel ?? 'sms';
  const byName = (name: string): TwilioAccountConfig | undefined => cfg.accounts.find((a) => a.name === name);

  const keyAccountName = key.account ?? (Object.hasOwn(cfg.routing.byKey, key.name) ? cfg.routing.byKey[key.name]! : null);
  let keyAccount: TwilioAccountConfig | undefined;
  if (keyAccountName !== null) {
    keyAccount = byName(keyAccountName);
    if (!keyAccount) {
      return { ok: false, code: 'SB_NO_ROUTE', reason: `the key "${key.name}" is mapped to account "${keyAccountName}", which is not configured` };
    }
  }

  if (from !== undefined) {
    const defaultAccount = byName(cfg.routing.defaultAccount);
    const usable = keyAccount ? [keyAccount] : [...(defaultAccount ? [defaultAccount] : []), ...cfg.accounts.filter((a) => a !== defaultAccount)];
    const fits = (s: SenderConfig): boolean => (s.type === 'whatsapp') === (channel === 'whatsapp');
    for (const account of usable) {
      const sender = account.senders.find((s) => fits(s) && senderMatches(s, from, cfg.defaultCountry));
      if (sender) return { ok: true, account, sender };
    }
    const wrongChannel = usable.some((a) => a.senders.some((s) => !fits(s) && senderMatches(s, from, cfg.defaultCountry)));
    if (wrongChannel) {
      const reason =
        channel === 'whatsapp'
          ? `"${from}" is not a WhatsApp sender and the recipient is a whatsapp: address`
          : `"${from}" is a WhatsApp sender and the recipient is not a whatsapp: address`;
      return { ok: false, code: 'SB_SENDER_UNKNOWN', field: 'from', reason };
    }
    const scope = keyAccount ? `account "${keyAccount.name}" (the key's account)` : 'any configured account';
    return { ok: false, code: 'SB_SENDER_UNKNOWN', field: 'from', reason: `"${from}" is not a sender of ${scope}` };
  }

  const account = keyAccount ?? byName(cfg.routing.defaultAccount);
  if (!account) {
    return { ok: false, code: 'SB_NO_ROUTE', reason: `the key "${key.name}" has no account and the default account "${cfg.routing.defaultAccount}" is not configured` };
  }
  const sender = pickSender(account.senders, category, channel);
  if (!sender) {
    return channel === 'whatsapp'
      ? { ok: false, code: 'SB_NO_ROUTE', field: 'to', reason: `account "${account.name}" has no WhatsApp sender` }
      : { ok: false, code: 'SB_NO_ROUTE', reason: `account "${account.name}" has no SMS sender` };
  }
  return { ok: true, account, sender };
}
