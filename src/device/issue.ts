import type { FlowSettings } from '../config/types.js'
import type { EpochMs } from '../oauth/types.js'
import { generateDeviceCode, generateUserCode, grantId } from './codes.js'
import type { DeviceGrant } from './grant.js'
import type { DeviceStore } from './store.js'
import { then, type Maybe } from '../maybe.js'

const USER_CODE_ATTEMPTS = 5

/** Who asks for a device authorization (RFC 8628 §3.1), already authenticated and scope-checked. */
export interface IssueRequest {
  client_id: string
  scopes: string[]
  device_ip: string
  device_user_agent?: string | undefined
}

/** A new grant and its device_code (which the store never sees). */
export interface IssuedGrant { deviceCode: string; grant: DeviceGrant }

/**
 * Draws a device code and a user code and stores the new grant (RFC 8628 §3.2) with the client's
 * flow settings (its interval, lifetime and user-code format: config/client_flow.ts), drawing another
 * user code when one collides with a live grant. Resolves the device_code and the grant, or
 * undefined when no free user code was found in a few draws. Answers in the same tick when the
 * store does (memory).
 */
export function issueGrant (
  store: DeviceStore,
  settings: FlowSettings,
  request: IssueRequest,
  now: EpochMs
): Maybe<IssuedGrant | undefined> {
  const deviceCode = generateDeviceCode()
  const id = grantId(deviceCode)
  const attempt = (n: number): Maybe<IssuedGrant | undefined> => {
    if (n === USER_CODE_ATTEMPTS) return undefined
    // one object literal with every field: an object built by spreading gets a hidden class of its
    // own in V8 (~360 bytes more per grant), and a field added later a properties store
    const grant: DeviceGrant = {
      id,
      client_id: request.client_id,
      scopes: request.scopes,
      user_code: generateUserCode(settings.device_flow_usercode_charset, settings.device_flow_usercode_length),
      status: 'issued',
      created_at: now,
      expires_at: now + settings.device_flow_codelifetime_seconds * 1000,
      interval: settings.device_flow_polling_interval_seconds,
      last_poll_at: -0, // zero (never polled), but a double: V8 gives the field a double representation from the first grant, and polls write it in place
      device_ip: request.device_ip,
      device_user_agent: request.device_user_agent
    }
    return then(store.create(grant), created => created ? { deviceCode, grant } : attempt(n + 1))
  }
  return attempt(0)
}
