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
      if (res.statusCode === 410) return 'gone' // only "gone" is a verdict on the device; a 404 may be a misrouted relay
      if (res.statusCode === 400 || res.statusCode === 413 || res.statusCode === 422) return 'refused'
      return 'retry'
    } catch {
      return 'retry'
    }
  }

  async close (): Promise<void> {}
}
