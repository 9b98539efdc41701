import type { Gateway } from './gateway.js'

/** Resolves once SIGTERM or SIGINT has stopped the gateway gracefully. */
export function stopOnSignal (gateway: Pick<Gateway, 'stop'>): Promise<void> {
  return new Promise(resolve => {
    const onSignal = (): void => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      gateway.stop().then(resolve, resolve)
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}
