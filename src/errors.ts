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
  /** Where the failed call went, for the log: a URL without its query, or Redis nodes without credentials. */
  readonly target: string | undefined
  constructor (code: SidecarErrorCode, message: string, options: { cause?: unknown; target?: string | undefined } = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined)
    this.name = 'SidecarError'
    this.code = code
    this.target = options.target
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

/** Causes followed for a log line (fetch wraps undici's error, which may wrap the socket's). */
const MAX_CAUSE_DEPTH = 3

/** The fields of an error's log line (never `msg`, which is the line's own). */
export interface ErrorLogFields {
  /** The SidecarError's code (ERR_UPSTREAM_UNREACHABLE, ERR_STORE_UNAVAILABLE, …). */
  code: string
  /** The system or library code behind it (ECONNREFUSED, ECONNRESET, ENOTFOUND, UND_ERR_SOCKET, …), when there is one. */
  cause_code?: string
  target?: string
  /** The error's message and its cause's, in words. */
  detail: string
}

/**
 * What a log line says of a failed dependency: one line, code, the cause's code, the target and
 * the messages, never a stack (a refused connection or a timeout is expected, not a bug).
 */
export function errorLogFields (err: SidecarError): ErrorLogFields {
  const fields: ErrorLogFields = { code: err.code, detail: err.message }
  let cause = err.cause as { code?: unknown; message?: unknown; cause?: unknown } | undefined
  for (let depth = 0; cause !== undefined && cause !== null && depth < MAX_CAUSE_DEPTH; depth++) {
    if (fields.cause_code === undefined && typeof cause.code === 'string') fields.cause_code = cause.code
    if (typeof cause.message === 'string' && cause.message !== '' && !fields.detail.includes(cause.message)) fields.detail += `: ${cause.message}`
    cause = cause.cause as typeof cause
  }
  if (err.target !== undefined) fields.target = err.target
  return fields
}

/**
 * The log fields of any error: a SidecarError's as errorLogFields gives them; an error with a
 * system code (EADDRINUSE, ECONNREFUSED, …) its code and message, in one line; anything else as
 * `err`, stack included — that one is a bug, and its stack is what finds it.
 */
export function failureLogFields (err: unknown): ErrorLogFields | { err: unknown } {
  if (err instanceof SidecarError) return errorLogFields(err)
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? { code, detail: (err as Error).message } : { err }
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
