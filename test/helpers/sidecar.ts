import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type Provider from 'oidc-provider'
import type { ClientMetadata } from 'oidc-provider'
import { buildApp, listen } from '../../src/app.js'
import { parseConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/types.js'
import type { DeviceStore } from '../../src/device/store.js'
import { startDemoIdp, type DemoIdp } from '../../demo/idp.js'
import { TestClock } from './clock.js'

export const UPSTREAM_CLIENT = { client_id: 'device-sidecar', client_secret: 'upstream-secret-Zq9' }
/** An ordinary web client of the IdP, whose token requests pass through the sidecar untouched. */
export const WEB_CLIENT: ClientMetadata = { client_id: 'web-app', client_secret: 'web-secret-Xy7', redirect_uris: ['http://127.0.0.1/cb'], grant_types: ['client_credentials', 'authorization_code'], response_types: ['code'], scope: 'openid api' }

/** A device client of the IdP's own device flow, unknown to the sidecar (registered with `idpDeviceFlow`). */
export const IDP_DEVICE_CLIENT: ClientMetadata = { client_id: 'idp-own-tv', token_endpoint_auth_method: 'none', grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], response_types: [], redirect_uris: [] }

/** The device clients every test sidecar serves. */
export const CLIENTS = [
  // signs in as its own client at the IdP, so the ID token's aud is tv-app (what openid-client checks)
  { client_id: 'tv-app', client_name: 'Living Room TV', token_endpoint_auth_method: 'none', scopes: ['openid', 'profile', 'email', 'offline_access'], upstream: { client_id: 'tv-app', client_secret: 'tv-upstream-secret-3' } },
  { client_id: 'console', client_name: 'Game <Console> & "Co"', token_endpoint_auth_method: 'client_secret_basic', client_secret: 'console-secret-1', scopes: ['openid', 'offline_access'] },
  { client_id: 'cli', client_name: 'Command line', token_endpoint_auth_method: 'client_secret_post', client_secret: 'cli-secret-2', scopes: ['openid', 'offline_access', 'tv'] },
  { client_id: 'old-tv', token_endpoint_auth_method: 'none', enabled: false, scopes: ['openid'] },
  { client_id: 'refresh-only', token_endpoint_auth_method: 'none', grant_types: ['refresh_token'], scopes: ['openid'] }
]

/** The admin API's bearer token in every test sidecar. */
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdefghijkl'

export interface TestSidecar {
  url: string
  /** The admin listener (metrics, admin API) on a free port; undefined with admin.enabled: false. */
  adminUrl: string | undefined
  app: FastifyInstance
  idp: DemoIdp
  config: Config
  clock: TestClock
  /** Every log line the sidecar wrote. */
  logs: string[]
  close(): Promise<void>
}

/** A free TCP port on 127.0.0.1 (the IdP's issuer must name the sidecar's port before it starts). */
export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

export interface SidecarOptions {
  /** Deep-merged over the default test config (objects merged, arrays replaced); a function gets the sidecar's URL first. */
  config?: Record<string, unknown> | ((url: string) => Record<string, unknown>)
  store?: DeviceStore
  /** More clients at the IdP; a function is given the sidecar's URL (for redirect URIs). */
  extraClients?: ClientMetadata[] | ((url: string) => ClientMetadata[])
  accessTokenTtl?: number
  /** The IdP rotates every refresh token on use. */
  rotateRefreshTokens?: boolean
  /** The IdP offers RFC 7009 revocation (default true). */
  revocation?: boolean
  /**
   * A path for the IdP's issuer under the sidecar's origin (`/realms/main`, as Keycloak's): the
   * IdP is mounted there and upstream.url names it. Default: the issuer is the origin's root.
   */
  issuerPath?: string
  /** The IdP runs its own device flow, its device authorization endpoint at `path`, with IDP_DEVICE_CLIENT (default off). */
  idpDeviceFlow?: { path: string }
  /**
   * The sidecar's own client (UPSTREAM_CLIENT.client_id) is registered at the IdP by these public
   * keys, with token_endpoint_auth_method private_key_jwt and no secret (the test configures the
   * matching upstream.private_key).
   */
  upstreamJwks?: { keys: Array<Record<string, unknown>> }
  /** More koa middleware on the real IdP (provider.use), after the /echo route: an IdP that misbehaves as another IdP would. */
  configure?: (provider: Provider) => void
}

/** The real IdP (oidc-provider, issuer = the sidecar's public URL, or issuerPath under it) and the sidecar in front of it. */
export async function startSidecar (options: SidecarOptions = {}): Promise<TestSidecar> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const idp = await startDemoIdp({
    issuer: `${url}${options.issuerPath ?? ''}`,
    sidecar: options.upstreamJwks === undefined
      ? { ...UPSTREAM_CLIENT, redirect_uri: `${url}/device/callback` }
      : { client_id: UPSTREAM_CLIENT.client_id, redirect_uri: `${url}/device/callback`, token_endpoint_auth_method: 'private_key_jwt', jwks: options.upstreamJwks },
    extraClients: [
      WEB_CLIENT,
      { client_id: 'tv-app', client_secret: 'tv-upstream-secret-3', redirect_uris: [`${url}/device/callback`], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] },
      ...(options.idpDeviceFlow === undefined ? [] : [IDP_DEVICE_CLIENT]),
      ...(typeof options.extraClients === 'function' ? options.extraClients(url) : options.extraClients ?? [])
    ],
    ...(options.idpDeviceFlow === undefined ? {} : { deviceFlow: options.idpDeviceFlow }),
    ...(options.accessTokenTtl === undefined ? {} : { accessTokenTtl: options.accessTokenTtl }),
    ...(options.rotateRefreshTokens === undefined ? {} : { rotateRefreshTokens: options.rotateRefreshTokens }),
    ...(options.revocation === undefined ? {} : { revocation: options.revocation }),
    configure: provider => {
      addEchoRoute(provider)
      options.configure?.(provider)
    }
  })
  const base = {
    server: { host: '127.0.0.1', port, public_url: url, cookie_keys: ['test-cookie-key-0123456789abcdef0123'] },
    upstream: { url: idp.url, ...UPSTREAM_CLIENT, timeout_seconds: 2 },
    device_flow_settings: { device_flow_polling_interval_seconds: 5, device_flow_codelifetime_seconds: 600 },
    clients: CLIENTS,
    admin: { port: 0, token: ADMIN_TOKEN },
    log: { level: 'info' }
  }
  const config = parseConfig(JSON.stringify(merge(base, (typeof options.config === 'function' ? options.config(url) : options.config) ?? {})), {})
  const clock = new TestClock()
  const logs: string[] = []
  const logStream = new Writable({ write (chunk, _enc, cb) { logs.push(...String(chunk).split('\n').filter(l => l !== '')); cb() } })
  const app = await buildApp(config, { clock, logStream, ...(options.store === undefined ? {} : { store: options.store }) })
  await listen(app, config)
  const adminAddress = app.admin?.server.address()
  return {
    url,
    adminUrl: adminAddress === undefined || adminAddress === null || typeof adminAddress === 'string' ? undefined : `http://127.0.0.1:${adminAddress.port}`,
    app,
    idp,
    config,
    clock,
    logs,
    close: async () => {
      await app.close()
      await idp.close()
    }
  }
}

function merge (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a }
  for (const [k, v] of Object.entries(b)) {
    const av = out[k]
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) && av !== null && typeof av === 'object' && !Array.isArray(av)
      ? merge(av as Record<string, unknown>, v as Record<string, unknown>)
      : v
  }
  return out
}

/** The demo IdP with a switch that delays its token endpoint. */
export type SlowProvider = Provider & { tokenDelayMs?: number }

/**
 * Adds /echo to the real IdP (a koa middleware in oidc-provider): answers what it received, can
 * set a cookie, redirect, delay (?delay=ms) and choose its status, for pass-through tests.
 */
export function addEchoRoute (provider: Provider): void {
  provider.use(async (ctx, next) => {
    // a test can make the IdP's token endpoint slow: (provider as SlowProvider).tokenDelayMs = n
    const tokenDelay = (provider as SlowProvider).tokenDelayMs ?? 0
    if (ctx.path === '/token' && tokenDelay > 0) await new Promise(resolve => setTimeout(resolve, tokenDelay))
    if (!ctx.path.startsWith('/echo')) return next()
    const chunks: Buffer[] = []
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer)
    const delay = Number(ctx.query.delay ?? 0)
    if (delay > 0) await new Promise(resolve => setTimeout(resolve, delay))
    if (ctx.query.redirect !== undefined) {
      ctx.status = 302
      ctx.set('location', String(ctx.query.redirect))
      return
    }
    ctx.status = Number(ctx.query.status ?? 200)
    ctx.set('set-cookie', 'echo=1; Path=/; HttpOnly')
    // the URL as the IdP's server received it (before a mount path was cut off)
    ctx.body = { method: ctx.method, url: (ctx.req as { originalUrl?: string }).originalUrl ?? ctx.url, headers: ctx.req.headers, body: Buffer.concat(chunks).toString('utf8') }
  })
}
