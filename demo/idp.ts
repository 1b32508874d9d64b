/**
 * The bundled demo IdP: oidc-provider with its own device flow off and its development login
 * pages on (any login, any password). Its issuer is the sidecar's public URL, as in a real
 * same-origin deployment; the tests start the same IdP as their upstream. An issuer with a path
 * (Keycloak's `/realms/main`) mounts the provider under that path, as Express would: the server
 * answers 404 outside it and hands the provider the rest with the path cut off (oidc-provider
 * reads the mount path back from `req.originalUrl`).
 */
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair } from 'jose'
import Provider, { type ClientMetadata } from 'oidc-provider'

export interface DemoIdpOptions {
  /** The IdP's issuer: the sidecar's public URL, or a path under it (mounted there). */
  issuer: string
  host?: string
  /** 0 picks a free port. */
  port?: number
  /** The sidecar's client at the IdP. */
  sidecar: { client_id: string; client_secret?: string; redirect_uri: string; token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'; jwks?: { keys: Array<Record<string, unknown>> } }
  /** More clients (e.g. an ordinary web app whose token requests pass through the sidecar). */
  extraClients?: ClientMetadata[]
  /** Access-token lifetime in seconds. */
  accessTokenTtl?: number
  /** RFC 7009 revocation at /token/revocation (default true). */
  revocation?: boolean
  /** Rotate every refresh token on use (oidc-provider rotates only public clients' by default). */
  rotateRefreshTokens?: boolean
  /**
   * Turns on oidc-provider's own device flow (RFC 8628) with its device authorization endpoint at
   * `path`, and its own code-entry page at /idp-device (so it does not meet the sidecar's). Off by
   * default: the sidecar is the device flow.
   */
  deviceFlow?: { path: string }
  /** Called before the server starts, e.g. to add koa middleware (provider.use) in tests. */
  configure?: (provider: Provider) => void
}

export interface DemoIdp {
  provider: Provider
  server: Server
  /** The IdP's internal URL, its issuer's path included (http://host:port/realms/main): what upstream.url names. */
  url: string
  close(): Promise<void>
}

/** Starts the demo IdP and resolves once it listens. */
export async function startDemoIdp (options: DemoIdpOptions): Promise<DemoIdp> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = { ...await exportJWK(privateKey), alg: 'RS256', use: 'sig', kid: 'demo-1' }
  const provider = new Provider(options.issuer, {
    clients: [
      {
        client_id: options.sidecar.client_id,
        // private_key_jwt: registered by its public keys, no secret
        ...(options.sidecar.jwks === undefined ? { client_secret: options.sidecar.client_secret ?? '' } : { jwks: options.sidecar.jwks as ClientMetadata['jwks'] }),
        redirect_uris: [options.sidecar.redirect_uri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: options.sidecar.token_endpoint_auth_method ?? 'client_secret_basic'
      },
      ...(options.extraClients ?? [])
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: ['demo-idp-cookie-key-not-for-production'] },
    ...(options.deviceFlow === undefined ? {} : { routes: { device_authorization: options.deviceFlow.path, code_verification: '/idp-device' } }),
    features: { devInteractions: { enabled: true }, deviceFlow: { enabled: options.deviceFlow !== undefined }, revocation: { enabled: options.revocation ?? true }, clientCredentials: { enabled: true } },
    claims: { openid: ['sub'], profile: ['name', 'nickname'], email: ['email', 'email_verified'] },
    // the scopes' claims in the ID token too (as many IdPs do), so the done page can name the account by email
    conformIdTokenClaims: false,
    scopes: ['openid', 'offline_access', 'profile', 'email', 'tv', 'api'],
    ...(options.rotateRefreshTokens === true ? { rotateRefreshToken: true } : {}),
    ttl: { AccessToken: options.accessTokenTtl ?? 3600, IdToken: 3600, RefreshToken: 14 * 24 * 3600, Interaction: 3600, Session: 14 * 24 * 3600, Grant: 14 * 24 * 3600, AuthorizationCode: 60 },
    findAccount: (_ctx, sub) => ({
      accountId: sub,
      claims: () => ({ sub, name: `Demo ${sub}`, nickname: sub, email: `${sub}@example.com`, email_verified: true })
    })
  })
  provider.proxy = true // it sits behind the sidecar, which sets X-Forwarded-*
  options.configure?.(provider)
  const mountPath = new URL(options.issuer).pathname.replace(/\/+$/, '')
  const server = createServer(mountPath === '' ? provider.callback() : mounted(mountPath, provider.callback()))
  await new Promise<void>(resolve => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    provider,
    server,
    url: `http://${options.host ?? '127.0.0.1'}:${port}${mountPath}`,
    close: () => new Promise<void>(resolve => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}

/** `listener` under `mountPath`: requests outside it get 404; inside, `req.url` loses the prefix and `req.originalUrl` keeps the whole. */
function mounted (mountPath: string, listener: RequestListener): RequestListener {
  return (req, res) => {
    const url = req.url ?? '/'
    const rest = url.slice(mountPath.length)
    if (!url.startsWith(mountPath) || !(rest === '' || rest.startsWith('/') || rest.startsWith('?'))) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not_found', error_description: 'outside the IdP\'s path' }))
      return
    }
    const inner = req as IncomingMessage & { originalUrl?: string; baseUrl?: string }
    inner.originalUrl = url
    inner.baseUrl = mountPath
    req.url = rest.startsWith('/') ? rest : `/${rest}`
    listener(req, res)
  }
}
