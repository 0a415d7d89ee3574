import { randomBytes } from 'node:crypto';

let lastMs = 0;
let sequence = 0;

/**
 * A UUIDv7 (RFC 9562) that also grows within a millisecond (a 12-bit counter in `rand_a`), so ids made one after
 * another in this process sort in the order they were made, as text and as PostgreSQL uuids. Webhook deliveries are
 * ordered by it: an endpoint gets its events in the order of their changes. Real time on purpose, not the
 * injected clock: a test clock moved back would otherwise reorder them.
 */
export function orderedUuid(): string {
  let ms = Date.now();
  if (ms <= lastMs) {
    sequence += 1;
    if (sequence > 0xfff) {
      lastMs += 1;
      sequence = 0;
    }
    ms = lastMs;
  } else {
    lastMs = ms;
    sequence = 0;
  }
  const bytes = randomBytes(16);
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** An event id: the `webhook-id` header. */
export const newEventId = () => `evt_${orderedUuid().replaceAll('-', '')}`;
