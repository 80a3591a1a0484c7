import { describe, expect, it } from 'vitest';
import { maskUrl } from './http.ts';

describe('maskUrl', () => {
  it.each([
    ['/v1/messages?to=%2B14155550100&limit=5', '/v1/messages?to=+*******0100&limit=5'],
    ['/v1/messages?to=+14155550100', '/v1/messages?to=+*******0100'],
    ['/v1/contacts/14155550100/consent', '/v1/contacts/*******0100/consent'],
    ['/v1/messages?to=whatsapp%3A%2B447700900123', '/v1/messages?to=whatsapp:+********0123'],
    ['/sandbox/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json', '/sandbox/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json'],
    ['/v1/messages/msg_01m830y3f1fa6w0r7pb2s5rgna', '/v1/messages/msg_01m830y3f1fa6w0r7pb2s5rgna'],
    ['/v1/messages?limit=1000', '/v1/messages?limit=1000'],
  ])('%s → %s', (url, masked) => {
    expect(maskUrl(url)).toBe(masked);
  });
});
