import { describe, expect, it } from 'vitest';
import { checkResolvedAddress, checkWebhookUrl, type UrlPolicyOptions } from './url-policy.ts';

const strict: UrlPolicyOptions = { allowLoopback: false, allowPrivate: false };
const dev: UrlPolicyOptions = { allowLoopback: true, allowPrivate: false };
const lan: UrlPolicyOptions = { allowLoopback: false, allowPrivate: true };

describe('checkWebhookUrl', () => {
  type Row = [url: string, opts: UrlPolicyOptions, ok: boolean, reason?: RegExp];
  const rows: Row[] = [
    ['https://app.example.com/hooks/sms', strict, true],
    ['http://app.example.com:8080/hooks', strict, true],
    ['https://93.184.216.34/x', strict, true],
    ['https://[2606:4700::1111]/x', strict, true],
    ['ftp://app.example.com/x', strict, false, /scheme ftp: not allowed/],
    ['javascript:alert(1)', strict, false, /scheme javascript:/],
    ['/relative/path', strict, false, /not an absolute URL/],
    ['', strict, false, /URL is required/],
    ['https://user:pw@app.example.com/', strict, false, /credentials/],
    ['https://app.example.com/#frag', strict, false, /fragments/],
    // loopback in all its spellings
    ['http://127.0.0.1:3000/x', strict, false, /loopback/],
    ['http://127.1/x', strict, false, /loopback/],
    ['http://2130706433/x', strict, false, /loopback/], // decimal form of 127.0.0.1
    ['http://0x7f000001/x', strict, false, /loopback/],
    ['http://[::1]/x', strict, false, /loopback/],
    ['http://[::ffff:127.0.0.1]/x', strict, false, /loopback/],
    ['http://localhost:3000/x', strict, false, /internal host name \(loopback\)/],
    ['http://api.localhost/x', strict, false, /loopback/],
    ['http://LOCALHOST./x', strict, false, /loopback/],
    ['http://127.0.0.1:3000/x', dev, true],
    ['http://localhost:3000/x', dev, true],
    ['http://[::1]:3000/x', dev, true],
    // private ranges
    ['http://10.1.2.3/x', strict, false, /private/],
    ['http://172.16.0.1/x', strict, false, /private/],
    ['http://172.31.255.255/x', strict, false, /private/],
    ['http://172.32.0.1/x', strict, true],
    ['http://192.168.1.10/x', strict, false, /private/],
    ['http://100.64.0.1/x', strict, false, /private/],
    ['http://[fd00::1]/x', strict, false, /private/],
    ['http://[::ffff:10.0.0.1]/x', strict, false, /private/],
    ['http://billing.internal/x', strict, false, /private network/],
    ['http://printer.local/x', strict, false, /private network/],
    ['http://intranet/x', strict, false, /single-label/],
    ['http://10.1.2.3/x', lan, true],
    ['http://billing.internal/x', lan, true],
    ['http://intranet/x', lan, true],
    ['http://127.0.0.1/x', lan, false, /loopback/],
    // never allowed, whatever the options
    ['http://169.254.169.254/latest/meta-data', { allowLoopback: true, allowPrivate: true }, false, /link-local/],
    ['http://[fe80::1]/x', { allowLoopback: true, allowPrivate: true }, false, /link-local/],
    ['http://0.0.0.0/x', { allowLoopback: true, allowPrivate: true }, false, /unspecified/],
    ['http://[::]/x', { allowLoopback: true, allowPrivate: true }, false, /unspecified/],
    ['http://224.0.0.1/x', { allowLoopback: true, allowPrivate: true }, false, /reserved/],
    ['http://255.255.255.255/x', { allowLoopback: true, allowPrivate: true }, false, /reserved/],
    ['http://192.0.2.1/x', strict, false, /reserved/],
  ];
  it.each(rows)('%s', (url, opts, ok, reason) => {
    const r = checkWebhookUrl(url, opts);
    expect(r.ok).toBe(ok);
    if (!r.ok && reason) expect(r.reason).toMatch(reason);
  });

  it('can require https', () => {
    expect(checkWebhookUrl('http://app.example.com/', { ...strict, allowHttp: false })).toEqual({ ok: false, reason: 'http:// not allowed; use https://' });
    expect(checkWebhookUrl('https://app.example.com/', { ...strict, allowHttp: false }).ok).toBe(true);
  });
});

describe('checkResolvedAddress (delivery time, against DNS rebinding)', () => {
  it.each([
    ['93.184.216.34', strict, true],
    ['127.0.0.1', strict, false],
    ['127.0.0.1', dev, true],
    ['10.0.0.5', strict, false],
    ['10.0.0.5', lan, true],
    ['169.254.169.254', { allowLoopback: true, allowPrivate: true }, false],
    ['::1', strict, false],
    ['::ffff:192.168.0.1', strict, false],
    ['64:ff9b::a00:1', strict, false], // NAT64 of 10.0.0.1
    ['64:ff9b::5db8:d822', strict, true], // NAT64 of 93.184.216.34
    ['2001:db8::1', strict, false],
    ['2a00:1450:4001:80b::200e', strict, true],
    ['fe80::1%eth0', { allowLoopback: true, allowPrivate: true }, false],
    ['example.com', strict, false],
  ] as [string, UrlPolicyOptions, boolean][])('%s', (ip, opts, ok) => {
    expect(checkResolvedAddress(ip, opts).ok).toBe(ok);
  });
});
