import type { FastifyInstance } from 'fastify'
import { accountName } from '../../policies/identity.js'
import { networkOf } from '../net/networks.js'
import type { ProtectionConfig } from '../config/schema.js'
import type { ProtectionState } from '../protection/protection-state.js'

/**
 * Account protection on the admin API: what is in force (locked users, banned clients, stale devices,
 * refused passwords by fingerprint id), and unlock / unban.
 */
export function protectionRoutes (state: ProtectionState, config: ProtectionConfig) {
  return async function routes (api: FastifyInstance): Promise<void> {
    api.get('/api/protection', async () => await state.snapshot())
    api.delete<{ Params: { user: string } }>('/api/protection/users/:user', async (req, reply) => {
      const user = req.params.user
      if (user === '' || user.length > 256 || /[\u0000-\u001f\u007f]/.test(user)) return reply.code(400).send({ error: 'bad user' }) // eslint-disable-line no-control-regex
      const account = accountName(user).toLowerCase()
      return reply.send({ user: account, unlocked: await state.unlockUser(account) })
    })
    api.delete<{ Params: { address: string } }>('/api/protection/clients/:address', async (req, reply) => {
      const address = req.params.address
      if (!/^[0-9a-fA-F.:]{2,45}$/.test(address)) return reply.code(400).send({ error: 'bad address' })
      const client = networkOf(address, config.clients.ipv4Prefix, config.clients.ipv6Prefix)
      return reply.send({ client, unbanned: await state.unbanClient(client) })
    })
  }
}
