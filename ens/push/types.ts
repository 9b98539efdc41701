/** A device registered for push: where to send and how. */
export interface PushDevice {
  id: string
  platform: 'apns' | 'fcm' | 'webhook'
  token: string
}

/** What a device is told. `silent` asks the app to subscribe again (heartbeat overdue, subscription lost). */
export type PushMessage =
  | { kind: 'mail', subject?: string | undefined, from?: string | undefined, itemId: string }
  | { kind: 'silent', reason: 'resubscribe' }

/**
 * sent; gone = the token is dead, remove the device; retry = transient, let Exchange redeliver;
 * refused = the provider refused this message as malformed (logged and counted; redelivering it would
 * be refused again, and the device is fine).
 */
export type PushResult = 'sent' | 'gone' | 'retry' | 'refused'

export interface PushProvider {
  readonly name: PushDevice['platform']
  send: (device: PushDevice, message: PushMessage) => Promise<PushResult>
  close: () => Promise<void>
}
