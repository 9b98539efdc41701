import { request } from 'undici'
import type { PushDevice, PushMessage, PushProvider, PushResult } from './types.js'

/** One JSON POST per device to a relay the company runs (for platforms Portcullis does not speak). */
export class WebhookProvider implements PushProvider {
  readonly name = 'webhook'
  readonly #url: string

  constructor (url: string) {
    this.#url = url
  }

  async send (device: PushDevice, message: PushMessage): Promise<PushResult> {
    try {
      const res = await request(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ device: { id: device.id, token: device.token }, ...message }),
        headersTimeout: 10_000,
        bodyTimeout: 10_000
      })
      await res.body.dump()
      if (res.statusCode >= 200 && res.statusCode < 300) return 'sent'
      return res.statusCode === 404 || res.statusCode === 410 ? 'gone' : 'retry'
    } catch {
      return 'retry'
    }
  }

  async close (): Promise<void> {}
}
