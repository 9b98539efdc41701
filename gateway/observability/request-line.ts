import { destinationOf, type Logger } from './log.js'

/** The fields of the one log line per proxied request, all chosen by the gateway (never headers or queries). */
export interface RequestLine {
  service: string
  command: string | undefined
  method: string | undefined
  path: string
  status: number
  /** The catalogue code of an answer the gateway made itself (gateway/errors/catalogue.ts). */
  code: string | undefined
  upstream: string | undefined
  server: string | undefined
  attempts: number
  durationMs: number
  client: string
  completed: boolean
  note: string | undefined
}

/**
 * Writes the per-request line straight to the logger's destination, in pino's format (level, time, the
 * base fields, msg). The generic path (bindings, serializers, redaction of every object) cost about 5 % of
 * the CPU of a proxied request, and this line holds nothing to redact: its fields are fixed above, the
 * path never carries the query (where ENS credentials would be).
 */
export class RequestLog {
  readonly #logger: Logger
  readonly #stream: { write: (line: string) => unknown }

  constructor (logger: Logger) {
    this.#logger = logger
    this.#stream = destinationOf(logger) // the destination the logger was made with: no pino internals
  }

  write (line: RequestLine): void {
    if (!this.#logger.isLevelEnabled('info')) return
    let json = `{"level":30,"time":${Date.now()},"app":"portcullis","service":${JSON.stringify(line.service)}`
    if (line.command !== undefined) json += `,"command":${JSON.stringify(line.command)}`
    if (line.method !== undefined) json += `,"method":${JSON.stringify(line.method)}`
    json += `,"path":${JSON.stringify(line.path)},"status":${line.status}`
    if (line.code !== undefined) json += `,"code":"${line.code}"` // catalogue codes need no escaping
    if (line.upstream !== undefined) json += `,"upstream":${JSON.stringify(line.upstream)}`
    if (line.server !== undefined) json += `,"server":${JSON.stringify(line.server)}`
    json += `,"attempts":${line.attempts},"durationMs":${line.durationMs},"client":${JSON.stringify(line.client)},"completed":${line.completed}`
    if (line.note !== undefined) json += `,"note":${JSON.stringify(line.note)}`
    this.#stream.write(json + ',"msg":"request"}\n')
  }
}
