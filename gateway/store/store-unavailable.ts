import { GatewayError } from '../errors/catalogue.js'

/** The store did not answer (Redis down or unreachable): one error for every way that happens. */
export class StoreUnavailableError extends GatewayError {
  constructor (message: string, options?: { cause?: unknown }) { super('GW_STORE_UNAVAILABLE', message, options) }
}
