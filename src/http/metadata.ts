import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DEVICE_CODE_GRANT } from '../oauth/types.js'
import type { ProviderMetadata } from '../upstream/metadata.js'
import type { RouteDeps } from './deps.js'

const DEFAULT_GRANT_TYPES = ['authorization_code', 'implicit'] // RFC 8414 §2 default

/**
 * The IdP's discovery document with the device flow added (RFC 8628 §4): the issuer stays the
 * IdP's, so RP libraries that check it keep working; the token and revocation (RFC 7009)
 * endpoints are the sidecar's.
 */
export async function metadataRoutes (app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { config, idp } = deps
  const publicUrl = config.server.public_url
  const deviceEndpoint = `${publicUrl}${config.device_flow_settings.device_authorization_path}`

  const handler = async (_req: FastifyRequest, reply: FastifyReply): Promise<ProviderMetadata> => {
    const doc = extendMetadata(await idp.metadata(), deviceEndpoint, `${publicUrl}${deps.tokenPath}`, `${publicUrl}${deps.revocationPath}`)
    reply.header('cache-control', `public, max-age=${Math.min(300, config.upstream.discovery_refresh_seconds)}`)
    return doc
  }
  app.get('/.well-known/openid-configuration', handler)
  app.get('/.well-known/oauth-authorization-server', handler)
}

/** The document the sidecar publishes for an IdP document. */
export function extendMetadata (doc: ProviderMetadata, deviceEndpoint: string, tokenEndpoint: string, revocationEndpoint: string): ProviderMetadata {
  const grants = Array.isArray(doc.grant_types_supported) ? doc.grant_types_supported as string[] : DEFAULT_GRANT_TYPES
  return {
    ...doc,
    token_endpoint: tokenEndpoint,
    revocation_endpoint: revocationEndpoint,
    device_authorization_endpoint: deviceEndpoint,
    grant_types_supported: grants.includes(DEVICE_CODE_GRANT) ? grants : [...grants, DEVICE_CODE_GRANT]
  }
}
