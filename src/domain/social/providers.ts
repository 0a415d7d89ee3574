import * as oidc from 'openid-client';
import type { Logger } from 'pino';
import type { ProviderConfig } from '../../config/load.js';

export class ProviderUnavailable extends Error {}

/**
 * The configured social sign-in providers. Each provider's discovery document is fetched on first use and kept;
 * a failed fetch is retried on the next sign-in rather than stopping the server (the provider may come back).
 */
export class Providers {
  private readonly discovered = new Map<string, Promise<oidc.Configuration>>();

  constructor(
    readonly list: readonly ProviderConfig[],
    private readonly logger: Logger,
    private readonly options: { publicUrl: string; allowHttpIssuers: boolean },
  ) {}

  find(name: string): ProviderConfig | undefined {
    return this.list.find((provider) => provider.name === name);
  }

  callbackUrl(name: string): string {
    return `${this.options.publicUrl}/v1/auth/oauth/${name}/callback`;
  }

  async configuration(provider: ProviderConfig): Promise<oidc.Configuration> {
    let pending = this.discovered.get(provider.name);
    if (!pending) {
      pending = oidc.discovery(
        new URL(provider.issuer),
        provider.clientId,
        { redirect_uris: [this.callbackUrl(provider.name)], response_types: ['code'] },
        oidc.ClientSecretPost(provider.clientSecret),
        this.options.allowHttpIssuers ? { execute: [oidc.allowInsecureRequests], timeout: 10 } : { timeout: 10 },
      );
      this.discovered.set(provider.name, pending);
      pending.catch((error) => {
        this.discovered.delete(provider.name);
        this.logger.warn({ provider: provider.name, err: error }, 'oauth: provider discovery failed');
      });
    }
    try {
      return await pending;
    } catch (error) {
      throw new ProviderUnavailable(`${provider.name} does not answer`, { cause: error });
    }
  }
}
