import { pino, type Logger, type DestinationStream } from 'pino'

export type { Logger }

/**
 * The JSON logger. Credentials never reach it: request lines are built by the gateway from chosen
 * fields (never raw headers or full URLs), and these redact paths catch a header object logged by
 * mistake. The ENS `creds` query parameter is kept out by logging paths without their query.
 */
export function createLogger (level: string, destination?: DestinationStream): Logger {
  const dest = destination ?? pino.destination({ dest: 1, sync: false })
  return pino({
    level,
    base: { app: 'portcullis' },
    redact: {
      censor: '[redacted]',
      paths: ['headers.authorization', 'headers.cookie', 'headers["proxy-authorization"]', 'headers["set-cookie"]', '*.password', 'creds', '*.creds']
    }
  }, dest)
}
