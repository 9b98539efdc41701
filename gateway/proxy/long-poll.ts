import type { Config, ServiceName } from '../config/schema.js'

/**
 * Requests the server holds open until something happens: ActiveSync Ping and Sync (Direct Push,
 * heartbeats up to 3,540 s, Sync Wait up to 59 min) and UCWA event channel P-GETs (up to 1,800 s).
 * They get their own timeout, are excluded from the latency histogram and counted as in flight.
 */
export function longPollTimeout (service: ServiceName, command: string | undefined, lowerPath: string, timeouts: Config['timeouts']): number | undefined {
  if (service === 'activesync') {
    return command === 'Ping' || command === 'Sync' ? timeouts.activesyncLongPollMs : undefined
  }
  if (service === 'ucwa' && lowerPath.startsWith('/ucwa/') && /\/events(\/|$)/.test(lowerPath)) {
    return timeouts.ucwaLongPollMs
  }
  return undefined
}
