import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { ProblemError } from '../kernel/problem.js';

export interface UrlPolicy {
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: tests and private deployments. */
  allowPrivateNetworks: boolean;
  /** Production: https:// only. */
  httpsOnly: boolean;
}

/**
 * Why an address may not be called, or null when it may. Only ipaddr.js's `unicast` range (public addresses)
 * passes: loopback, private, link-local (with the 169.254.169.254 metadata service), carrier-grade NAT (100.64/10,
 * where some clouds put theirs), unspecified, broadcast, multicast and reserved IPv4; loopback, unique-local
 * (fd00:ec2::254), link-local, unspecified, multicast and the IPv4-embedding IPv6 ranges (NAT64, 6to4, Teredo).
 * An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as its IPv4 address.
 */
export function refusedAddress(address: string): string | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return `${address} is not an IP address`;
  }
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  const range = parsed.range();
  return range === 'unicast' ? null : `${address} is a ${range} address`;
}

/** Resolves `host` (every address) and refuses it when any address is refused. Returns the addresses. */
export async function resolveAllowed(host: string, allowPrivateNetworks: boolean): Promise<{ address: string; family: number }[]> {
  const bare = host.replace(/^\[|\]$/g, '');
  const addresses = isIP(bare) ? [{ address: bare, family: isIP(bare) }] : await lookup(bare, { all: true, verbatim: true });
  if (addresses.length === 0) throw new Error(`${host} does not resolve`);
  if (!allowPrivateNetworks) {
    for (const { address } of addresses) {
      const why = refusedAddress(address);
      if (why) throw new Error(`${host} resolves to ${why}`);
    }
  }
  return addresses;
}

/** Checks a URL as it is saved: its scheme, and where its host resolves now. Throws `webhook-url-refused`. */
export async function checkWebhookUrl(raw: string, policy: UrlPolicy): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refused('The URL is not valid.');
  }
  if (url.protocol !== 'https:' && (policy.httpsOnly || url.protocol !== 'http:')) {
    throw refused(policy.httpsOnly ? 'Webhook URLs must be https:// in production.' : 'Webhook URLs must be http:// or https://.');
  }
  if (url.username || url.password) throw refused('Webhook URLs may not carry credentials.');
  try {
    await resolveAllowed(url.hostname, policy.allowPrivateNetworks);
  } catch (error) {
    const message = String((error as Error).message);
    throw refused(/resolves to|not an IP/.test(message) ? `${message}; set WEBHOOK_ALLOW_PRIVATE_NETWORKS=true to allow it.` : `${url.hostname} does not resolve.`);
  }
  return url.toString();
}

const refused = (detail: string) => new ProblemError('webhook-url-refused', { detail });
