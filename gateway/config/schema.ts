import { isIP } from 'node:net'
import { z } from 'zod'

// The schema of config.yaml (design.md, "config.yaml"). Keys are camelCase and identical to the
// TypeScript properties; every object is strict, so an unknown or misspelt key is an error.
// Secrets never appear here: only the names of the environment variables that hold them (`...Env`).

const port = z.number().int().min(0).max(65535)
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
const httpOrigin = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
const positiveMs = z.number().int().positive()

/** An IPv4 or IPv6 address, or a CIDR range of either. */
const cidr = z.string().refine(value => {
  const [addr = '', bits, extra] = value.split('/')
  const family = isIP(addr)
  if (family === 0 || extra !== undefined) return false
  if (bits === undefined) return true
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)
}, 'must be an IP address or CIDR range (10.0.0.0/8, 2001:db8::/32)')

const tlsListen = z.strictObject({ cert: z.string().min(1), key: z.string().min(1) })

const listen = z.strictObject({
  host: z.string().default('0.0.0.0'),
  port: port.default(8443),
  tls: tlsListen.optional(),
  /** Peers (CIDRs) whose X-Forwarded-For is kept and appended to; everyone else's is replaced. */
  trustedProxies: z.array(cidr).default([]),
  /** Connections from trustedProxies start with a PROXY protocol header (v1 or v2) naming the client. */
  proxyProtocol: z.boolean().default(false),
  /** Largest request head (Node's maxHeaderSize); larger heads get 431. */
  maxHeaderBytes: z.number().int().min(1024).max(1048576).default(16384),
  /** Time to receive a whole request (slow mobile uploads need minutes). */
  requestTimeoutMs: z.number().int().refine(ms => ms === 0 || ms >= 1000, 'must be 0 (no limit) or at least 1000').default(900_000),
  /** How long SIGTERM waits for ordinary requests before it closes what is left. */
  shutdownGraceMs: z.number().int().min(0).default(10_000)
})

const admin = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: port.default(9090),
  tokenEnv: envName.optional()
})

const store = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('memory') }),
  z.strictObject({
    type: z.literal('redis'),
    /**
     * Admission while the store is unreachable: `closed` answers 503 with Retry-After in the
     * protocol's form (an admin block or a pending quarantine cannot be read, so nothing is let
     * through on a guess); `open` forwards on the policy's rules alone, without per-device decisions.
     */
    onUnavailable: z.enum(['open', 'closed']).default('closed'),
    redis: z.strictObject({
      url: z.url({ protocol: /^rediss?$/ }),
      keyPrefix: z.string().default('portcullis:'),
      passwordEnv: envName.optional()
    })
  })
])

const healthCheck = z.strictObject({
  path: z.string().startsWith('/'),
  /** Statuses that mean healthy: 401 is the healthy answer of Exchange and Skype to an anonymous probe. */
  expect: z.array(z.number().int().min(100).max(599)).min(1).default([401]),
  intervalMs: positiveMs.default(5000),
  timeoutMs: positiveMs.default(2000),
  /** Host header of the probe; default: the host of publicUrl (what clients send). */
  host: z.string().optional(),
  unhealthyThreshold: z.number().int().min(1).default(2),
  healthyThreshold: z.number().int().min(1).default(2)
})

const upstreamTls = z.strictObject({
  caFile: z.string().optional(),
  insecure: z.boolean().default(false),
  serverName: z.string().optional()
})

const retry = z.strictObject({
  maxAttempts: z.number().int().min(1).max(10).default(3),
  /** Request bodies up to this size are kept in memory so a failed attempt can be replayed. */
  bufferBodyBytes: z.number().int().min(0).default(1_048_576),
  baseBackoffMs: z.number().int().min(0).default(25),
  maxBackoffMs: z.number().int().min(0).default(250),
  /** Retries may be at most this share of the requests of the last 10 s, plus minRetries. */
  budgetPercent: z.number().min(0).max(100).default(20),
  minRetries: z.number().int().min(0).default(10),
  /** A server's Retry-After (seconds) keeps it out of rotation at most this long. */
  retryAfterCapSeconds: z.number().int().min(0).default(60)
})

const ejection = z.strictObject({
  consecutiveFailures: z.number().int().min(1).default(3),
  baseMs: positiveMs.default(30_000),
  maxMs: positiveMs.default(300_000),
  /** Share of a pool that may be ejected at once; one server can always be ejected. */
  maxPercent: z.number().min(0).max(100).default(67)
})

const upstream = z.strictObject({
  servers: z.array(httpOrigin).min(1),
  tls: upstreamTls.default({ insecure: false }),
  healthCheck: healthCheck.optional(),
  retry: retry.default(retry.parse({})),
  ejection: ejection.default(ejection.parse({})),
  connectTimeoutMs: positiveMs.default(5000),
  /** Idle keep-alive of pooled upstream connections; below IIS's 120 s idle timeout. */
  keepAliveMs: positiveMs.default(60_000)
})

const service = z.strictObject({ upstream: z.string().min(1) })

const services = z.strictObject({
  activesync: service.optional(),
  ews: service.optional(),
  autodiscover: service.optional(),
  ucwa: service.optional()
})

const timeouts = z.strictObject({
  /** Ordinary requests: time to the upstream's response head, and idle time between body chunks. */
  headersMs: positiveMs.default(120_000),
  bodyIdleMs: positiveMs.default(300_000),
  /** ActiveSync Ping and Sync are held up to 3,600 s (HeartbeatInterval max 3,540 s, Sync Wait 59 min). */
  activesyncLongPollMs: positiveMs.default(3_660_000),
  /** UCWA event channel P-GETs are held up to 1,800 s. */
  ucwaLongPollMs: positiveMs.default(1_860_000)
})

const apns = z.strictObject({
  keyFile: z.string(),
  keyId: z.string(),
  teamId: z.string(),
  topic: z.string(),
  endpoint: httpOrigin.default('https://api.push.apple.com'),
  caFile: z.string().optional()
})

const ens = z.strictObject({
  enabled: z.boolean().default(false),
  ews: z.strictObject({ upstream: z.string(), path: z.string().default('/EWS/Exchange.asmx') }).optional(),
  callbackUrl: httpOrigin.optional(),
  statusFrequencyMinutes: z.number().int().min(1).max(1440).default(15),
  keyMaxAgeDays: z.number().int().min(1).max(3650).default(365),
  retiredKeyDays: z.number().int().min(0).max(3650).default(30),
  masterKeyEnv: envName.optional(),
  apiTokensEnv: envName.optional(),
  payload: z.enum(['full', 'minimal']).default('full'),
  push: z.strictObject({
    apns: apns.optional(),
    fcm: z.strictObject({ serviceAccountFile: z.string(), endpoint: httpOrigin.optional() }).optional(),
    webhook: z.strictObject({ url: httpOrigin }).optional()
  }).default({})
})

const log = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')
})

/** The device inventory: bounded, and untouched records forgotten (admin decisions excepted). */
const inventory = z.strictObject({
  maxDevices: z.number().int().min(1).default(100_000),
  retentionDays: z.number().int().min(1).default(90)
})

const minutes = z.number().positive()

/** A token bucket: `perMinute` sustained, `burst` at once (default: a minute's worth), for the named services (default all). */
const rateLimit = z.strictObject({
  perMinute: z.number().positive(),
  burst: z.number().int().min(1).optional(),
  services: z.array(z.enum(['activesync', 'ews', 'autodiscover', 'ucwa'])).optional()
})

/**
 * Account protection (README, "Account protection"). Absent: off. The directory's own lockout policy is
 * required: every limit below it is derived from or checked against it.
 */
const protection = z.strictObject({
  /** HMAC key of credential fingerprints (32+ random bytes, base64); required on the Redis store. */
  keyEnv: envName.optional(),
  directory: z.strictObject({
    lockoutThreshold: z.number().int().min(1).max(999),
    observationWindowMinutes: minutes
  }),
  badCredentials: z.strictObject({ ttlHours: z.number().positive().default(24), retryMinutes: minutes.default(15) }).default({ ttlHours: 24, retryMinutes: 15 }),
  users: z.strictObject({
    /** Devices and client networks remembered per user (first in, first out), as AD FS does. */
    familiarSize: z.number().int().min(1).max(100).default(20),
    /** Defaults: floor(T/2) from unfamiliar places, T-2 from familiar ones (at least 1). */
    unfamiliarLimit: z.number().int().min(1).optional(),
    familiarLimit: z.number().int().min(1).optional(),
    lockMinutes: minutes.default(15),
    maxLockMinutes: minutes.default(240)
  }).default({ familiarSize: 20, lockMinutes: 15, maxLockMinutes: 240 }),
  clients: z.strictObject({
    maxUsers: z.number().int().min(1).default(10),
    windowMinutes: minutes.default(10),
    banMinutes: minutes.default(60),
    maxBanMinutes: minutes.default(1440),
    ipv4Prefix: z.number().int().min(8).max(32).default(32),
    ipv6Prefix: z.number().int().min(16).max(128).default(64)
  }).default({ maxUsers: 10, windowMinutes: 10, banMinutes: 60, maxBanMinutes: 1440, ipv4Prefix: 32, ipv6Prefix: 64 }),
  passwords: z.strictObject({
    maxUsers: z.number().int().min(1).default(5),
    windowMinutes: minutes.default(15),
    blockHours: z.number().positive().default(24)
  }).default({ maxUsers: 5, windowMinutes: 15, blockHours: 24 }),
  /** Networks never banned (the company's own NAT, a monitoring host): CIDRs. */
  exempt: z.array(cidr).default([]),
  /** closed: credentials this process saw succeed lately pass, others get 503; open: nothing is refused. */
  onStoreUnavailable: z.enum(['open', 'closed']).default('closed'),
  /** Off unless set: requests per device (account and DeviceId), per account, per client address. */
  rateLimits: z.strictObject({ device: rateLimit.optional(), user: rateLimit.optional(), client: rateLimit.optional() }).default({})
})

export type RateLimitConfig = z.infer<typeof rateLimit>

export type ProtectionConfig = z.infer<typeof protection>

/** ActiveSync behaviour at the gateway (README, "Long-polls"). */
const activesync = z.strictObject({
  /** A new Ping of a device ends its older held one (Status 1) instead of holding two upstream. */
  onePingPerDevice: z.boolean().default(true),
  /** Pings asking for a longer or shorter heartbeat get Status 5 with the allowed value, as Exchange answers. */
  maxHeartbeatSeconds: z.number().int().min(60).max(3540).optional(),
  minHeartbeatSeconds: z.number().int().min(1).max(3540).optional()
})

export type ActiveSyncConfig = z.infer<typeof activesync>

export const configSchema = z.strictObject({
  listen: listen.default(listen.parse({})),
  publicUrl: httpOrigin,
  admin: admin.default(admin.parse({})),
  store: store.default({ type: 'memory' }),
  upstreams: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/, 'upstream names are lower-case letters, digits and -'), upstream),
  services,
  policies: z.string().optional(),
  ens: ens.default(ens.parse({})),
  inventory: inventory.default(inventory.parse({})),
  protection: protection.optional(),
  activesync: activesync.default({ onePingPerDevice: true }),
  timeouts: timeouts.default(timeouts.parse({})),
  log: log.default({ level: 'info' })
})

export type Config = z.infer<typeof configSchema>
export type UpstreamConfig = z.infer<typeof upstream>
export type HealthCheckConfig = z.infer<typeof healthCheck>
export type ServiceName = keyof z.infer<typeof services>
export const SERVICE_NAMES: readonly ServiceName[] = ['activesync', 'ews', 'autodiscover', 'ucwa']
export type RetryConfig = UpstreamConfig['retry']
