import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { DeviceGrant } from '../device/grant.js'

/**
 * The audit trail: one info line per event, with a stable `event` name a SOC can alert on.
 * Fields name grants by id (the SHA-256 of the device code), never by a code; no token, code,
 * secret or cookie is ever a field (test/audit.test.ts searches every line of a whole flow).
 */
export type AuditEvent =
  | 'device_authorization.issued'
  | 'device_authorization.rate_limited'
  | 'verification.code_ok'
  | 'verification.code_wrong'
  | 'verification.throttled'
  | 'verification.approved'
  | 'verification.issuer_mismatch'
  | 'verification.sign_in_too_old'
  | 'grant.approved'
  | 'grant.denied'
  | 'grant.expired'
  | 'grant.redeemed'
  | 'token.refreshed'
  | 'token.refresh_reused'
  | 'token.revoked'
  | 'admin.revoked'
  | 'admin.unauthorized'
  | 'config.reloaded'
  | 'config.reload_refused'
  | 'config.reload_restart_needed'

export interface AuditFields {
  client_id?: string
  grant_id?: string
  /** The person's subject at the IdP, once known. */
  sub?: string
  device_ip?: string
  device_user_agent?: string
  /** Who acted on the verification pages (the phone), or the operator's address on the admin API. */
  approver_ip?: string
  approver_user_agent?: string
  [more: string]: unknown
}

export function audit (log: FastifyBaseLogger, event: AuditEvent, fields: AuditFields, msg: string): void {
  log.info({ event, ...fields }, msg)
}

/** The device's side of a grant, as audit fields. */
export function deviceFields (grant: DeviceGrant): AuditFields {
  return { client_id: grant.client_id, grant_id: grant.id, device_ip: grant.device_ip, device_user_agent: grant.device_user_agent } // undefined fields are not written
}

/** The person acting on a page, as audit fields. */
export function approverFields (req: FastifyRequest): AuditFields {
  const ua = userAgentOf(req)
  return { approver_ip: req.ip, ...(ua === undefined ? {} : { approver_user_agent: ua }) }
}

/** The request's User-Agent, bounded (it is stored with grants and written to the audit trail). */
export function userAgentOf (req: { readonly headers: IncomingHttpHeaders }): string | undefined {
  return req.headers['user-agent']?.slice(0, 256)
}
