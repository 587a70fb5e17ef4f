import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Secrets OctoDB must read back later (tenant MySQL passwords, the last issued token) are kept
 * sealed with AES-256-GCM under the data key, so MetaDB and its backups never hold them in clear.
 */
export class Sealer {
  private readonly dataKey?: Buffer;
  /** Without a key (a function deployed without the data key) every use fails loudly. */
  constructor(dataKey: string | undefined) {
    // Any length of key material in, exactly 32 bytes out.
    this.dataKey = dataKey ? createHash('sha256').update(dataKey).digest() : undefined;
  }

  private get key(): Buffer {
    if (!this.dataKey) throw new Error('configuration: no data key (OCTODB_DATA_KEY or OCTODB_DATA_KEY_SECRET_ARN) for this function');
    return this.dataKey;
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join('.');
  }

  open(sealed: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('not a sealed value');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
  }
}
