import Bowser from 'bowser';
import type { DeviceType } from '../../db/entities.js';

export interface DeviceDescription {
  deviceType: DeviceType;
  browser: string | null;
  os: string | null;
  /** Device type, browser and OS names without versions: an update does not make a device new. */
  deviceKey: string;
}

const PLATFORMS: Record<string, DeviceType> = { desktop: 'desktop', mobile: 'mobile', tablet: 'tablet', tv: 'tv', bot: 'bot' };

/** Device type, browser (name and major version) and OS from a User-Agent header, for the session list. */
export function describeUserAgent(userAgent: string | null): DeviceDescription {
  if (!userAgent) return { deviceType: 'unknown', browser: null, os: null, deviceKey: 'unknown||' };
  const parsed = Bowser.parse(userAgent);
  const browserVersion = parsed.browser.version?.split('.')[0];
  const osVersion = parsed.os.versionName ?? parsed.os.version?.split('.')[0];
  const deviceType = PLATFORMS[parsed.platform.type ?? ''] ?? 'unknown';
  return {
    deviceType,
    deviceKey: `${deviceType}|${parsed.browser.name ?? ''}|${parsed.os.name ?? ''}`.slice(0, 150),
    browser: parsed.browser.name ? [parsed.browser.name, browserVersion].filter(Boolean).join(' ').slice(0, 64) : null,
    os: parsed.os.name ? [parsed.os.name, osVersion].filter(Boolean).join(' ').slice(0, 64) : null,
  };
}
