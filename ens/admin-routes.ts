import type { FastifyInstance } from 'fastify'
import type { EnsService } from './service.js'

/**
 * ENS's routes on the admin listener (mounted inside its token-protected API, so the admin token
 * guards them): key rotation, `?revoke=true` for a suspected compromise.
 */
export function ensAdminRoutes (service: EnsService) {
  return async function routes (api: FastifyInstance): Promise<void> {
    api.post<{ Params: { userId: string }, Querystring: { revoke?: string } }>('/api/ens/keys/:userId/rotate', async (req, reply) => {
      if (!/^[0-9a-f]{64}$/.test(req.params.userId)) return reply.code(400).send({ error: 'userId must be the hex SHA-256 of the lower-case e-mail address' })
      const revoke = req.query.revoke === 'true'
      const { key, retired } = await service.rotateKey(req.params.userId, { revoke })
      return reply.send({ userId: req.params.userId, keyId: key.keyId, ...(retired ? { retired } : {}), revoked: revoke })
    })
  }
}
