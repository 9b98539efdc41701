/**
 * The layering of the code, checked by `npm run lint` (dependency-cruiser). README, "Architecture".
 * Type-only imports do not count: they vanish when the types are stripped.
 */
// node:net is not here: its pure helpers (BlockList, isIP) are fine, and its sockets are caught by tls/http.
const IO = '^(node:)?(fs|fs/promises|http|https|http2|tls|dgram|child_process|cluster|worker_threads)$'
module.exports = {
  forbidden: [
    {
      name: 'policies-are-pure',
      comment: 'policies/ compiles and evaluates rules from parsed data: no I/O, nothing of the gateway but its error catalogue.',
      severity: 'error',
      from: { path: '^policies/' },
      to: { dependencyTypesNot: ['type-only'], path: [IO, '^gateway/(?!errors/)', '^ens/', 'node_modules/(fastify|ioredis|undici|pino|yaml)/'] }
    },
    {
      name: 'parsers-are-pure',
      comment: 'The protocol parsers turn bytes into values: no I/O, no store, upstream, server or policy.',
      severity: 'error',
      from: { path: '^gateway/protocols/' },
      to: { dependencyTypesNot: ['type-only'], path: [IO, '^gateway/(server|proxy|upstream|store|policy|config|observability|lab)/', '^ens/', 'node_modules/(fastify|ioredis|undici|pino)/'] }
    },
    {
      name: 'upstream-knows-no-policy',
      comment: 'Talking to servers is independent of who may talk.',
      severity: 'error',
      from: { path: '^gateway/upstream/' },
      to: { dependencyTypesNot: ['type-only'], path: ['^policies/', '^gateway/policy/', '^gateway/server/', '^ens/'] }
    },
    {
      name: 'ens-stays-out-of-the-server',
      comment: 'ENS is a service the server hosts: it may not reach into the listeners or the attempt loop.',
      severity: 'error',
      from: { path: '^ens/' },
      to: { dependencyTypesNot: ['type-only'], path: ['^gateway/server/', '^gateway/proxy/', '^gateway/pipeline/', '^gateway/lab/'] }
    },
    {
      name: 'redis-behind-domain-stores',
      comment: 'Only the Redis connection talks to ioredis; key names live in the Redis implementations of the domain stores.',
      severity: 'error',
      from: { path: '^(gateway|policies|ens)/', pathNot: '^gateway/store/redis-connection\\.ts$' },
      to: { dependencyTypesNot: ['type-only'], path: 'node_modules/ioredis/' }
    },
    {
      name: 'stages-stay-out-of-the-server',
      comment: 'The pipeline\'s stages are the request path; the listeners run them, never the other way round.',
      severity: 'error',
      from: { path: '^gateway/(pipeline|replies|errors)/' },
      to: { dependencyTypesNot: ['type-only'], path: ['^gateway/server/', '^gateway/lab/', '^ens/'] }
    },
    {
      name: 'no-simulators-in-the-product',
      comment: 'The lab\'s fake servers are loaded only by `portcullis lab` (lazily) and by tests.',
      severity: 'error',
      from: { path: '^(gateway|policies|ens)/', pathNot: '^gateway/lab/' },
      to: { path: '^gateway/lab/', dependencyTypesNot: ['dynamic-import', 'type-only'] }
    },
    {
      name: 'no-cycles',
      severity: 'error',
      from: { path: '^(gateway|policies|ens)/' },
      to: { circular: true, dependencyTypesNot: ['type-only'] }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] }
  }
}
