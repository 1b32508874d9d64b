import type { Clock } from '../../clock.js'
import type { ClientConfig, Config } from '../../config/types.js'
import type { DeviceStore } from '../../device/store.js'
import type { SidecarErrorCode } from '../../errors.js'
import type { Metrics } from '../../ops/metrics.js'
import type { Pages } from '../../ui/pages.js'
import type { Idp } from '../../upstream/idp.js'
import type { CodeFormats } from './code_formats.js'
import type { SessionCookie } from './cookie.js'
import type { FastPath } from './fast_path.js'
import type { Limiter } from './limits.js'

/** What every route plugin is registered with (plugin options, not decorators). */
export interface RouteDeps {
  config: Config
  store: DeviceStore
  idp: Idp
  clock: Clock
  clients: ReadonlyMap<string, ClientConfig>
  /** The user-code formats of the clients' grants (each client may have its own; they change on reload). */
  codeFormats: CodeFormats
  /** Path of the IdP's token_endpoint, where the sidecar answers token requests. */
  tokenPath: string
  /** Path of the IdP's revocation_endpoint, or the sidecar's own when it has none (RFC 7009). */
  revocationPath: string
  metrics: Metrics
  /** Where the device endpoints register their POST handlers a second time, to be answered ahead of fastify. */
  fastPath: FastPath
  limiter: Limiter
  /** The verification pages' signed cookie (its keys change on reload). */
  cookie: SessionCookie
  /** The pages: templates, languages, brand and their assets (ui/pages.ts). */
  pages: Pages
}

/** HTTP status and public words for each internal error code; one table for JSON and pages. */
export const SIDECAR_ERROR_STATUS: Readonly<Record<SidecarErrorCode, { status: number; description: string }>> = {
  ERR_UPSTREAM_TIMEOUT: { status: 504, description: 'the identity provider did not answer in time' },
  ERR_UPSTREAM_UNREACHABLE: { status: 502, description: 'the identity provider cannot be reached' },
  ERR_UPSTREAM_RESPONSE: { status: 502, description: 'the identity provider gave an unusable answer' },
  ERR_ID_TOKEN_INVALID: { status: 502, description: 'the identity provider returned an ID token that failed validation' },
  ERR_STORE_UNAVAILABLE: { status: 503, description: 'the grant store is not answering' },
  ERR_CONFIG_INVALID: { status: 500, description: 'the sidecar is misconfigured' },
  ERR_ISSUER_ORIGIN: { status: 502, description: 'the identity provider gave an unusable answer' }
}

/** Every OAuth reply: never cached (RFC 6749 §5.1, §5.2). */
export const NO_STORE: Readonly<Record<string, string>> = { 'cache-control': 'no-store', pragma: 'no-cache' }
export const NO_STORE_JSON: Readonly<Record<string, string>> = { ...NO_STORE, 'content-type': 'application/json; charset=utf-8' }
