import { CliError, withServices } from '../context.js';
import type { Command } from '../command.js';

/** Starts a signing-key rotation: the new key is published now and signs after SIGNING_KEY_PUBLISH_SECONDS. */
export const rotateSigningKeyCommand: Command = {
  name: 'rotate-signing-key',
  synopsis: 'rotate-signing-key',
  summary: 'publish a new token-signing key; it signs after SIGNING_KEY_PUBLISH_SECONDS',
  description: [
    'The new key is in the JWKS at once and signs access tokens from SIGNING_KEY_PUBLISH_SECONDS later; the keys it',
    'replaces stay published until the last token they sign has expired (ACCESS_TOKEN_TTL after that). Running',
    'instances load keys every minute. Refused when the key comes from SIGNING_KEY.',
  ].join('\n'),
  positionals: { min: 0, max: 0 },
  async run(context) {
    const { SigningKeyConfigured } = await import('../../domain/tokens/signing-keys.js');
    await withServices(context, async (services) => {
      try {
        const now = services.clock.now();
        const rotation = await services.signingKeys.rotate();
        await services.audit.record({ action: 'admin.signing-key-rotated', details: { kid: rotation.kid, via: 'cli rotate-signing-key' } });
        const retiresAt = new Date(rotation.activatesAt.getTime() + services.config.ACCESS_TOKEN_TTL * 1000);
        const wait = Math.max(0, Math.round((rotation.activatesAt.getTime() - now.getTime()) / 1000));
        context.out(`new signing key: ${rotation.kid}`);
        context.out(`  published in the JWKS now; signs from ${rotation.activatesAt.toISOString()} (in ${wait} s)`);
        if (rotation.retiring.length > 0) {
          context.out(`  retiring ${rotation.retiring.join(', ')}: published until ${retiresAt.toISOString()}`);
        }
      } catch (error) {
        if (error instanceof SigningKeyConfigured) throw new CliError(`cannot rotate: ${error.message}`);
        throw error;
      }
    });
  },
};
