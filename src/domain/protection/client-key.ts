import ipaddr from 'ipaddr.js';

/**
 * The key per-IP limits and blocks count a client under. An IPv6 client is usually given a whole /64 (or more), so
 * rotating the low bits would walk past per-address limits: IPv6 is keyed by its network (`2001:db8:1:2::/64` for
 * a prefix of 64), an IPv4-mapped IPv6 address by the IPv4 address it carries, IPv4 by the address. Anything that
 * does not parse is its own key.
 */
export function clientKey(ip: string, ipv6Prefix: number): string {
  const cidr = /^(.+)\/(\d{1,3})$/.exec(ip);
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.parse(cidr ? cidr[1] : ip);
  } catch {
    return ip;
  }
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) address = (address as ipaddr.IPv6).toIPv4Address();
  if (address.kind() === 'ipv4') return address.toString();
  if (ipv6Prefix >= 128) return address.toString();
  const bytes = address.toByteArray().map((byte, index) => {
    const bits = Math.min(8, Math.max(0, ipv6Prefix - index * 8));
    return byte & ((0xff << (8 - bits)) & 0xff);
  });
  return `${ipaddr.fromByteArray(bytes).toString()}/${ipv6Prefix}`;
}
