import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** A new signing secret in the Standard Webhooks form: `whsec_` and base64 of 24 random bytes (192 bits). */
export const newWebhookSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

/**
 * Seals webhook signing secrets at rest with AES-256-GCM. They cannot be hashed like our tokens (we need them back to
 * sign), so they are encrypted under a key derived (HKDF-SHA256) from WEBHOOK_SECRET_KEY, which lives in the
 * configuration and never in the database: a leaked backup or a read-only SQL injection yields ciphertext, not the
 * means to forge events. The endpoint id is the associated data, so a sealed secret cannot be moved to another row.
 */
export class SecretSealer {
  private readonly key: Buffer;

  constructor(serverSecret: string) {
    this.key = Buffer.from(hkdfSync('sha256', serverSecret, 'pulse-auth', 'webhook-signing-secrets v1', 32));
  }

  seal(secret: string, endpointId: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(endpointId));
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return `v1.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  open(sealed: string, endpointId: string): string {
    const raw = Buffer.from(sealed.replace(/^v1\./, ''), 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(endpointId));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}
