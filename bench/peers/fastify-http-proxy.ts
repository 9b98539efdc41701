import Fastify from 'fastify'
import httpProxy from '@fastify/http-proxy'

// The bare @fastify/http-proxy peer. Its undici defaults cap 128 connections per origin and cut
// requests at 300 s; BENCH_TUNED=1 lifts both (used for the held-Ping workload, where the defaults
// never reach 5,000 held requests).
const [port = '0', upstream = ''] = process.argv.slice(2)
const tuned = process.env.BENCH_TUNED === '1'
const app = Fastify({ logger: false })
await app.register(httpProxy, { upstream, ...(tuned ? { undici: { connections: null, headersTimeout: 0, bodyTimeout: 0 } as never } : {}) })
await app.listen({ port: Number(port), host: '127.0.0.1' })
