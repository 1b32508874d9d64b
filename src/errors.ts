/**
 * Internal errors (never sent to a client as they are): one class with a stable code, in the
 * manner of jose's errors. The http layer decides what a person or device sees for each code.
 */
export type SidecarErrorCode =
  | 'ERR_CONFIG_INVALID'
  | 'ERR_UPSTREAM_TIMEOUT'
  | 'ERR_UPSTREAM_UNREACHABLE'
  | 'ERR_UPSTREAM_RESPONSE'
  | 'ERR_ID_TOKEN_INVALID'
  | 'ERR_STORE_UNAVAILABLE'
  /** Same-origin mode, upstream.issuer unset, and the IdP's issuer on another origin than public_url. */
  | 'ERR_ISSUER_ORIGIN'

export class SidecarError extends Error {
  /** Stable machine code. */
  readonly code: SidecarErrorCode
  constructor (code: SidecarErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options)
    this.name = 'SidecarError'
    this.code = code
  }
}

/**
 * Same-origin mode without upstream.issuer, and the IdP's discovered issuer is on another origin
 * than server.public_url: clients that check the issuer would reject the sidecar's document.
 */
export class IssuerOriginError extends SidecarError {
  /** The issuer the IdP published. */
  readonly issuer: string
  constructor (issuer: string, message: string) {
    super('ERR_ISSUER_ORIGIN', message)
    this.name = 'SidecarError'
    this.issuer = issuer
  }
}

/** A bad configuration file: `problems` holds one line per problem, each led by its JSON pointer. */
export class ConfigError extends SidecarError {
  readonly problems: readonly string[]
  constructor (problems: readonly string[]) {
    super('ERR_CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}
