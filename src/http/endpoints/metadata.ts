import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DEVICE_CODE_GRANT } from '../../oauth/types.js'
import type { ProviderMetadata } from '../../upstream/metadata.js'
import type { RouteDeps } from '../plumbing/deps.js'

const DEFAULT_GRANT_TYPES = ['authorization_code', 'implicit'] // RFC 8414 §2 default
/** The well-known suffixes of OpenID Connect Discovery 1.0 §4 and RFC 8414 §3. */
const WELL_KNOWN = ['openid-configuration', 'oauth-authorization-server']

/**
 * The IdP's discovery document with the device flow added (RFC 8628 §4): the issuer stays the
 * IdP's, so RP libraries that check it keep working; the token and revocation (RFC 7009)
 * endpoints are the sidecar's. Served at every location a client may derive from the issuer
 * (discoveryPaths), taken from the document fetched at start-up, as the token path is.
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
  for (const path of discoveryPaths((await idp.metadata()).issuer)) app.get(path, handler)
}

/**
 * The paths at which clients look for the metadata of `issuer`, for both well-known suffixes: at
 * the root, inserted before the issuer's path (RFC 8414 §3.1, also used with
 * openid-configuration by some clients), and appended to it (OpenID Connect Discovery 1.0 §4),
 * the issuer's terminating `/` removed first. For an issuer without a path these are the two root
 * paths only (RFC 8414 §3.1).
 */
export function discoveryPaths (issuer: string): string[] {
  const path = new URL(issuer).pathname.replace(/\/+$/, '')
  const paths = new Set<string>()
  for (const suffix of WELL_KNOWN) {
    paths.add(`/.well-known/${suffix}`)
    paths.add(`/.well-known/${suffix}${path}`)
    paths.add(`${path}/.well-known/${suffix}`)
  }
  return [...paths]
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
