import { describe, expect, it } from 'vitest';
import {
  isLoopbackHost,
  parseHostPort,
  maskUrlPassword,
  parseUrl,
  requestTargetUrl,
  urlHostIsLoopback,
} from '../src/index.js';

/** Host names and addresses a plain ws:// or http:// URL may name. */
const LOOPBACK = [
  '127.0.0.1',
  '127.255.255.254',
  '127.0.1.1',
  '::1',
  '[::1]',
  '0:0:0:0:0:0:0:1',
  '::ffff:127.0.0.1',
  '[::ffff:7f00:1]',
  'localhost',
  'LOCALHOST',
];

/** Host names and addresses that only look like loopback, or are not. */
const NOT_LOOPBACK = [
  '127.0.0.1.nip.io',
  '127.hub.example',
  '127.evil.com',
  '127.1', // shorthand: not an IP literal to node:net; write it in full
  '127.000.000.001',
  'localhost.',
  'hub.localhost',
  'localhost.example.com',
  '0.0.0.0',
  '::',
  '128.0.0.1',
  '10.0.0.1',
  '::2',
  '::ffff:10.0.0.1',
  'fe80::1%lo',
  '[::1',
  '',
];

describe('loopback (plain ws:// and http:// are allowed only there)', () => {
  it.each([...LOOPBACK.map((h) => [h, true] as const), ...NOT_LOOPBACK.map((h) => [h, false] as const)])(
    '%s is loopback: %s',
    (h, loopback) => {
      expect(isLoopbackHost(h)).toBe(loopback);
    },
  );

  it('judges a URL by the host its client will connect to', () => {
    expect(urlHostIsLoopback('ws://127.0.0.1:7400')).toBe(true);
    expect(urlHostIsLoopback('ws://[::1]:7400/v1/agent')).toBe(true);
    expect(urlHostIsLoopback('ws://localhost:7400')).toBe(true);
    // the URL parser makes it 127.0.0.1, and so does the client
    expect(urlHostIsLoopback('ws://127.1:7400')).toBe(true);
    expect(urlHostIsLoopback('ws://127.0.0.1.nip.io:7400')).toBe(false);
    expect(urlHostIsLoopback('ws://127.hub.example')).toBe(false);
    expect(urlHostIsLoopback('ws://127.0.0.1@hub.example/')).toBe(false);
    expect(urlHostIsLoopback('ws://127.0.0.1:7400@hub.example/')).toBe(false);
    expect(urlHostIsLoopback('not a url')).toBe(false);
  });

  it('parses HOST:PORT, IPv6 in brackets', () => {
    expect(parseHostPort('[::1]:7400')).toEqual({ host: '::1', port: 7400 });
    expect(parseHostPort(':7400')).toEqual({ host: '127.0.0.1', port: 7400 });
    expect(() => parseHostPort('host:70000')).toThrow('expected a port from 0 to 65535, got 70000 in "host:70000"');
  });
});

describe('URLs in messages and logs', () => {
  it('mask the password, keep the rest, and give the fallback for what is not a URL', () => {
    expect(maskUrlPassword('postgres://app:s3cret@db:5432/hub', 'postgres://…')).toBe('postgres://app:***@db:5432/hub');
    expect(maskUrlPassword('amqp://relay@mq/vhost', 'amqp://…')).toBe('amqp://relay@mq/vhost');
    expect(maskUrlPassword('not a url s3cret', 'amqp://…')).toBe('amqp://…');
  });
});

describe('parseUrl', () => {
  it('is the URL a text is, or undefined when it is not one', () => {
    expect(parseUrl('wss://hub.example.com:7400/v1')?.port).toBe('7400');
    expect(parseUrl('hub.example.com 7400')).toBeUndefined();
    expect(parseUrl('')).toBeUndefined();
  });
});

describe('requestTargetUrl (an HTTP request target, as the hub reads it)', () => {
  it('reads origin-form as a path, even one that starts with two slashes', () => {
    expect(requestTargetUrl('/v1/admin/stores?limit=2')?.pathname).toBe('/v1/admin/stores');
    expect(requestTargetUrl('/v1/admin/stores?limit=2')?.searchParams.get('limit')).toBe('2');
    const doubled = requestTargetUrl('//evil.example/v1/agent');
    expect(doubled?.host).toBe('hub');
    expect(doubled?.pathname).toBe('//evil.example/v1/agent');
    expect(requestTargetUrl(undefined)?.pathname).toBe('/');
  });

  it('reads absolute-form, and is undefined for a target that is no URL', () => {
    expect(requestTargetUrl('http://hub.example:7400/v1/agent')?.pathname).toBe('/v1/agent');
    expect(requestTargetUrl('*')).toBeUndefined();
    expect(requestTargetUrl('http://:99999/')).toBeUndefined();
  });
});
