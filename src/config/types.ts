import type { SigningAlg } from './private_key.js'

/**
 * The validated, defaults-filled configuration. Mirrors schemas/config.schema.json, which is the
 * source of truth and documents every field; keys keep their snake_case wire names.
 */
export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post'
/** How the sidecar authenticates as a client of the IdP (RFC 6749 §2.3.1; RFC 7523 §2.2 private_key_jwt). */
export type UpstreamAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'
/** What the IdP may be asked for on the upstream leg (OIDC Core §3.1.2.1 prompt); `none` is refused, false sends no prompt. */
export type UpstreamPrompt = 'login' | 'consent' | 'select_account'
export type DeviceGrantType = 'urn:ietf:params:oauth:grant-type:device_code' | 'refresh_token'

/** Credentials the sidecar uses as a client of the IdP. */
export interface UpstreamCredentials {
  readonly client_id: string
  readonly client_secret?: string
  readonly token_endpoint_auth_method: UpstreamAuthMethod
  /** private_key_jwt: a PEM, a private JWK, or a JWK as JSON text (checked at load). */
  readonly private_key?: string | Readonly<Record<string, unknown>>
  /** private_key_jwt: the kid sent; filled in at load (the JWK's kid, else its RFC 7638 thumbprint). */
  readonly private_key_kid?: string
  /** private_key_jwt: the JWS alg; filled in at load from the key's type when not set. */
  readonly token_endpoint_auth_signing_alg?: SigningAlg
  /** private_key_jwt: the key's X.509 certificate (PEM); its thumbprints go in the header (x5t, x5t#S256). */
  readonly certificate?: string
  /** private_key_jwt: the assertion's aud (and typ): the issuer (draft-ietf-oauth-rfc7523bis) or the token endpoint (RFC 7523). */
  readonly client_assertion_audience: 'issuer' | 'token_endpoint'
}

/**
 * What a grant is issued with: device_flow_settings, or a client's own (clients[].device_flow_settings)
 * over them (src/config/client_flow.ts). The charset is the literal set, never a preset name.
 */
export interface FlowSettings {
  readonly device_flow_polling_interval_seconds: number
  readonly device_flow_codelifetime_seconds: number
  readonly device_flow_usercode_length: number
  readonly device_flow_usercode_charset: string
}

/** A client's overrides of device_flow_settings; absent keys are inherited. */
export interface ClientFlowSettings extends Partial<FlowSettings> {
  /** false: the device authorization response omits verification_uri_complete. */
  readonly verification_uri_complete: boolean
}

export interface ClientConfig {
  readonly client_id: string
  readonly client_name?: string
  readonly enabled: boolean
  readonly client_secret?: string
  readonly token_endpoint_auth_method: ClientAuthMethod
  readonly grant_types: readonly DeviceGrantType[]
  readonly scopes: readonly string[]
  /** Overrides device_flow_settings.prompt for this client. */
  readonly prompt?: UpstreamPrompt | false
  /** Overrides device_flow_settings.max_age_seconds for this client. */
  readonly max_age_seconds?: number
  readonly upstream?: UpstreamCredentials
  /** RFC 7591 §2: a PNG or SVG file (absolute path once loaded) the sidecar serves itself on the confirm page. */
  readonly logo_uri?: string
  /** RFC 7591 §2: the client's home page, linked on the confirm page. */
  readonly client_uri?: string
  /** RFC 7591 §2: the client's privacy policy, linked on the confirm page. */
  readonly policy_uri?: string
  /** RFC 7591 §2: the client's terms of service, linked on the confirm page. */
  readonly tos_uri?: string
  /** This client's flow settings over device_flow_settings (charset resolved to its literal set). */
  readonly device_flow_settings?: ClientFlowSettings
}

export interface RedisConfig {
  readonly url?: string
  readonly sentinel?: { readonly name: string; readonly nodes: readonly string[]; readonly password?: string }
  readonly cluster?: { readonly nodes: readonly string[] }
  readonly username?: string
  readonly password?: string
  readonly tls: boolean
  readonly key_prefix: string
  readonly command_timeout_ms: number
  readonly connect_timeout_ms: number
}

/** A fixed-window rate limit. */
export interface Window { readonly max: number; readonly window_seconds: number }
/** A bound shared by every address, which tightens each address's allowance once reached (limits.*). */
export interface SharedWindow extends Window { readonly per_address_when_reached: number }

export interface Config {
  readonly server: {
    readonly host: string
    readonly port: number
    readonly public_url: string
    readonly trust_proxy: readonly string[]
    readonly cookie_keys?: readonly string[]
    readonly body_limit_bytes: number
    readonly request_timeout_seconds: number
    readonly max_connections_per_ip: number
    readonly proxy_body_limit_bytes: number
  }
  readonly upstream: UpstreamCredentials & {
    readonly url: string
    readonly issuer?: string
    readonly proxy: boolean
    readonly timeout_seconds: number
    readonly discovery_refresh_seconds: number
    readonly enforce_scopes_supported: boolean
  }
  readonly device_flow_settings: {
    readonly device_flow_polling_interval_seconds: number
    readonly device_flow_codelifetime_seconds: number
    readonly device_flow_usercode_length: number
    /** Already resolved from a preset name to the literal set of characters. */
    readonly device_flow_usercode_charset: string
    readonly enforce_clientauth_device_authorize: boolean
    readonly prompt: UpstreamPrompt | false
    readonly max_age_seconds?: number
    readonly device_authorization_path: string
    readonly verification_path: string
    /** The address devices show instead of {public_url}{verification_path} (normalised to its href). */
    readonly verification_uri?: string
    readonly refresh_binding_ttl_seconds: number
  }
  readonly clients: readonly ClientConfig[]
  readonly store: {
    readonly type: 'memory' | 'redis'
    readonly memory: { readonly max_grants: number }
    readonly redis?: RedisConfig
    /** Normalized to a list, newest first. */
    readonly encryption_key?: readonly string[]
  }
  readonly limits: {
    readonly enabled: boolean
    readonly device_authorization_per_ip: Window
    readonly device_authorization_per_client: SharedWindow
    readonly user_code_attempts: Window
    readonly user_code_attempts_global: SharedWindow
  }
  readonly admin: {
    readonly enabled: boolean
    readonly host: string
    readonly port: number
    readonly token?: string
  }
  /** The verification pages: brand, templates and languages. */
  readonly ui: {
    /** The operator's front end (absolute https URL, http on loopback; no fragment): verification_uri and where the callback's results go. */
    readonly frontend_url?: string
    /** Shown in the title and headings ("Sign in to Example TV+"). */
    readonly service_name?: string
    /** A PNG or SVG file (absolute path once loaded), served by the sidecar under the verification path. */
    readonly logo_file?: string
    /** `#rgb` or `#rrggbb`. */
    readonly accent_color?: string
    readonly links: { readonly privacy?: string; readonly terms?: string; readonly support?: string }
    /** Operator templates replacing built-in pages by file name (absolute path once loaded). */
    readonly templates_dir?: string
    /** Operator message catalogues, `<locale>.json` (absolute path once loaded). */
    readonly messages_dir?: string
    /** A BCP 47 tag in canonical case (pt-BR, zh-Hant-TW); one of `locales` when that is set. */
    readonly default_locale: string
    /** The enabled locales, BCP 47 tags in canonical case, no two alike; all bundled and operator locales when unset. */
    readonly locales?: readonly string[]
    /** Scope → locale (a BCP 47 tag in canonical case) → words (non-empty). */
    readonly scope_descriptions: Readonly<Record<string, Readonly<Record<string, string>>>>
  }
  readonly log: { readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'; readonly requests: boolean }
}
