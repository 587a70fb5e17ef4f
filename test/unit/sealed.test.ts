import { describe, expect, it } from 'vitest';
import { Sealer } from '#core/sealed';

describe('Sealer', () => {
  const sealer = new Sealer('a-data-key-of-sufficient-length-0123456789');

  it('opens what it sealed, and never stores the plain text', () => {
    const sealed = sealer.seal('s3cret-password');
    expect(sealed).not.toContain('s3cret');
    expect(sealer.open(sealed)).toBe('s3cret-password');
  });

  it('seals the same value differently each time (random IV)', () => {
    expect(sealer.seal('x')).not.toBe(sealer.seal('x'));
  });

  it('refuses a tampered value and a value sealed under another key', () => {
    const sealed = sealer.seal('s3cret-password');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64');
    body[0] = body[0]! ^ 1;
    parts[3] = body.toString('base64');
    expect(() => sealer.open(parts.join('.'))).toThrow();
    expect(() => new Sealer('another-key-entirely-0123456789abcdef').open(sealed)).toThrow();
    expect(() => sealer.open('garbage')).toThrow(/not a sealed value/);
  });

  it('refuses a value whose authentication tag was truncated', () => {
    const [version, iv, tag, body] = sealer.seal('s3cret-password').split('.') as [string, string, string, string];
    const short = Buffer.from(tag, 'base64').subarray(0, 4).toString('base64');
    expect(() => sealer.open([version, iv, short, body].join('.'))).toThrow();
  });
});

describe('Sealer without a data key', () => {
  it('refuses to seal or open, naming the missing setting', () => {
    const keyless = new Sealer(undefined);
    expect(() => keyless.seal('x')).toThrow(/OCTODB_DATA_KEY/);
    expect(() => keyless.open('v1.a.b.c')).toThrow(/OCTODB_DATA_KEY/);
  });
});
