import { z } from 'zod'
import { PROTOCOLS } from './identity.js'

/** A pattern: an exact case-insensitive value, a glob with * and ?, or /regex/flags; a list matches any. */
const pattern = z.union([z.string().min(1), z.number().transform(String)])
const patterns = z.union([pattern, z.array(pattern).min(1)])

const matchFields = {
  protocol: z.union([z.enum(PROTOCOLS), z.array(z.enum(PROTOCOLS)).min(1)]).optional(),
  userAgent: patterns.optional(),
  deviceType: patterns.optional(),
  deviceId: patterns.optional(),
  deviceModel: patterns.optional(),
  deviceOS: patterns.optional(),
  user: patterns.optional(),
  command: patterns.optional(),
  method: patterns.optional(),
  path: patterns.optional(),
  clientIp: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
  authScheme: z.union([z.enum(['basic', 'bearer', 'ntlm', 'negotiate', 'none']), z.array(z.enum(['basic', 'bearer', 'ntlm', 'negotiate', 'none'])).min(1)]).optional(),
  headers: z.record(z.string(), patterns).optional()
}

export type MatchSpec = { [K in keyof typeof matchFields]?: z.infer<typeof matchFields[K]> | undefined } & { not?: MatchSpec | undefined }

const match: z.ZodType<MatchSpec> = z.lazy(() => z.strictObject({ ...matchFields, not: match.optional() }))

export const ruleSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'rule names are letters, digits, ".", "_" and "-" (they label metrics)'),
  /** `flag`: allow, but log and count; later rules still decide (a flagged client can still be blocked). */
  action: z.enum(['allow', 'block', 'quarantine', 'flag']),
  match,
  reason: z.string().optional()
})

/** The file's frame; each rule is validated on its own so that every bad rule is reported at once. */
export const policyFileSchema = z.strictObject({
  include: z.array(z.string()).default([]),
  default: z.enum(['allow', 'block', 'quarantine']).optional(),
  rules: z.array(z.unknown()).default([])
})

export type Rule = z.infer<typeof ruleSchema>
export type PolicyFile = z.infer<typeof policyFileSchema>
