/**
 * Outbound conversation threading, durable with the message (issue 4, "nothing lost"): the store the send API
 * writes through attaches `thread` (store.ts `OutboundThread`) to every message it inserts, so the store files the
 * message in its (contact, sender) conversation in the same transaction — owner = the sending app (its API key
 * name), last activity = the message's creation time. A crash or a shutdown right after the 2xx cannot lose the
 * thread update, and an inbound reply that arrives right after the 2xx already finds the new owner.
 */
import type { MessageRecord } from '../domain/message.ts';
import type { OutboundThread, Store } from '../store/store.ts';

/** `store`, except that `insertMessages` files every message without an explicit `thread` with `threadOf(message)`. */
export function withOutboundThreading(store: Store, threadOf: (m: MessageRecord) => OutboundThread): Store {
  const insertMessages: Store['insertMessages'] = (items) => store.insertMessages(items.map((it) => (it.thread ? it : { ...it, thread: threadOf(it.message) })));
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'insertMessages') return insertMessages;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
