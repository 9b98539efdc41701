import type { EventEmitter } from 'node:events'

type Listener = (...args: never[]) => void

/**
 * Adds listeners and returns the function that removes them all: for code that must let go of a long-
 * lived emitter (a client request, a socket) once its part is over, since a held Ping lives for an hour.
 */
export function listen (emitter: EventEmitter, listeners: Record<string, Listener>): () => void {
  const entries = Object.entries(listeners) as Array<[string, (...args: unknown[]) => void]>
  for (const [event, listener] of entries) emitter.on(event, listener)
  return () => { for (const [event, listener] of entries) emitter.off(event, listener) }
}
