import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const TAG_BYTES = 16;

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
    // GCM verifies any tag length from 4 bytes up unless told otherwise: a truncated tag would
    // cut the work of forging a value from 2^128 tries to 2^32. Only the full tag is accepted.
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'), { authTagLength: TAG_BYTES });
    const tagBytes = Buffer.from(tag, 'base64');
    if (tagBytes.length !== TAG_BYTES) throw new Error('not a sealed value');
    decipher.setAuthTag(tagBytes);
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
  }
}
