import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { answer, sendAnswer, type JsonAnswer, type JsonRequest } from '../plumbing/answer.js'
import { audit, deviceFields, userAgentOf } from '../../ops/audit.js'
import { outcomeOf, rateLimitedBody } from '../plumbing/outcomes.js'
import { flowSettingsFor, offersCompleteUri } from '../../config/client_flow.js'
import type { ClientConfig, FlowSettings } from '../../config/types.js'
import { formatUserCode } from '../../device/codes.js'
import { issueGrant, type IssuedGrant } from '../../device/issue.js'
import { guard, then, type Maybe } from '../../maybe.js'
import { authenticateClient, readCredentials } from '../../oauth/client_auth.js'
import { TemporarilyUnavailable, UnauthorizedClient } from '../../oauth/errors.js'
import { isForm, parseForm } from '../../oauth/form.js'
import { DEVICE_CODE_GRANT } from '../../oauth/types.js'
import { NO_STORE_JSON, type RouteDeps } from '../plumbing/deps.js'
import { methodNotAllowed } from '../plumbing/answer.js'
import { requestedScopes } from '../plumbing/scopes.js'
import { verificationUris } from '../plumbing/verification_uris.js'
import { withoutSessionCookie } from '../plumbing/cookie.js'
import { bodyReadByFastPath } from '../plumbing/fast_path.js'
import { forwardedFor } from '../plumbing/forwarded.js'
import { idpDeviceClient, lenientCredentials, relay } from './token.js'

/**
 * RFC 8628 §3.1–3.2: the device asks for a device code and a user code. The sidecar's discovery
 * document sends every device here, so the IdP's own device clients (idpDeviceClient) are passed to
 * the IdP's device_authorization_endpoint untouched, ahead of the sidecar's limits.
 */
export async function deviceAuthorizationRoutes (app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { config, store, clock, clients, metrics, limiter, fastPath, idp } = deps
  const dfs = config.device_flow_settings
  const enforceScopesSupported = config.upstream.enforce_scopes_supported
  const uris = verificationUris(config)
  /**
   * The RFC 8628 §3.2 response is written as a string around the two values that change: the
   * device code is base64url and the user code [A-Z0-9-] (config validation), so neither needs
   * JSON or URL escaping; the rest is escaped once here. (JSON.stringify of the object cost ~1.5 µs
   * per request in C++; fastify's schema serializer more.) Pinned by test/device_authorization.test.ts.
   */
  const uriJson = JSON.stringify(uris.verification_uri)
  const completePrefix = JSON.stringify(uris.complete_prefix).slice(0, -1)
  /** Per client: its flow settings and its response, built once per client object (a reload brings new ones). */
  const perClient = new WeakMap<ClientConfig, ClientAnswer>()
  const clientAnswer = (client: ClientConfig): ClientAnswer => {
    const flow = flowSettingsFor(dfs, client)
    const fixedTail = `"expires_in":${flow.device_flow_codelifetime_seconds},"interval":${flow.device_flow_polling_interval_seconds}}`
    const responseBody = offersCompleteUri(client)
      ? (deviceCode: string, userCode: string): string =>
          `{"device_code":"${deviceCode}","user_code":"${userCode}","verification_uri":${uriJson},"verification_uri_complete":${completePrefix}${userCode}",${fixedTail}`
      : (deviceCode: string, userCode: string): string =>
          `{"device_code":"${deviceCode}","user_code":"${userCode}","verification_uri":${uriJson},${fixedTail}`
    const built = { flow, responseBody }
    perClient.set(client, built)
    return built
  }

  app.route({ method: ['GET', 'PUT', 'DELETE', 'PATCH'], url: dfs.device_authorization_path, handler: methodNotAllowed('POST') })
  // answered by the fast path (fast_path.ts) when it reads the request itself, else by fastify
  const handle = (req: JsonRequest, body: unknown): Maybe<JsonAnswer> => guard(() => authorize(req, body), err => {
    metrics.deviceAuthorization(outcomeOf(err))
    throw err
  })
  fastPath.post(dfs.device_authorization_path, (req, body) => idpsOwn(req, body) ? undefined : handle(req, body))
  // not async: on the memory store every step answers in the same tick (see maybe.ts)
  app.post(dfs.device_authorization_path, { preParsing: bodyReadByFastPath }, (req, reply) =>
    idpsOwn(req, req.body) ? forward(req, reply) : then(handle(req, req.body), a => sendAnswer(reply, a)))

  /** Whether the request is of one of the IdP's own device clients (only when the IdP has a device flow). */
  function idpsOwn (req: JsonRequest, body: unknown): boolean {
    if (idp.deviceAuthorizationEndpoint === undefined || !isForm(req.headers['content-type'])) return false
    let params: Record<string, string>
    try {
      params = parseForm(req.headers['content-type'], body)
    } catch {
      return false // the sidecar's to refuse
    }
    const creds = lenientCredentials(req.headers.authorization, params)
    return creds !== undefined && idpDeviceClient(creds, clients, idp)
  }

  async function forward (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
    const headers = { ...req.headers, cookie: withoutSessionCookie(req.headers.cookie) }
    return relay(reply, await idp.forwardDeviceAuthorization(body, headers, forwardedFor(req)))
  }

  function authorize (req: JsonRequest, body: unknown): Maybe<JsonAnswer> {
    const ip = req.ip // behind trusted proxies, each read parses X-Forwarded-For again
    return then(limiter.take('da:ip', ip, l => l.device_authorization_per_ip), ipWait => {
      if (ipWait !== undefined) return rateLimited(req, ipWait, { reason: 'per_ip', device_ip: ip })
      const params = parseForm(req.headers['content-type'], body)
      const client = authenticateClient(readCredentials(req.headers.authorization, params), clients, dfs.enforce_clientauth_device_authorize)
      if (!client.grant_types.includes(DEVICE_CODE_GRANT)) throw new UnauthorizedClient('the client may not use the device authorization grant')
      const scopes = requestedScopes(params.scope, client.scopes, enforceScopesSupported ? idp.scopesSupported : undefined)
      // per client from every address together; once that bound is reached, each address still
      // gets its tightened allowance, so no one network stops the client's new logins
      return then(limiter.attempt(`da:c:${client.client_id}`, ip, l => ({ perAddress: l.device_authorization_per_ip, shared: l.device_authorization_per_client })), attempt => {
        if (attempt?.allowed === false) return rateLimited(req, attempt.retryAfter, { reason: attempt.tightened ? 'per_client' : 'per_ip', client_id: client.client_id, device_ip: ip })
        const { flow, responseBody } = perClient.get(client) ?? clientAnswer(client)
        return then(issueGrant(store, flow, { client_id: client.client_id, scopes, device_ip: ip, device_user_agent: userAgentOf(req) }, clock.now()), issued => issuedAnswer(req, issued, responseBody))
      })
    })
  }

  function issuedAnswer (req: JsonRequest, issued: IssuedGrant | undefined, responseBody: ClientAnswer['responseBody']): JsonAnswer {
    if (issued === undefined) throw new TemporarilyUnavailable('no free user code could be drawn; try again')
    const { deviceCode, grant } = issued

    metrics.deviceAuthorization('issued')
    audit(req.log, 'device_authorization.issued', deviceFields(grant), 'device authorization issued')
    return answer(200, responseBody(deviceCode, formatUserCode(grant.user_code)))
  }

  function rateLimited (req: JsonRequest, seconds: number, fields: { reason: string; client_id?: string; device_ip: string }): JsonAnswer {
    metrics.deviceAuthorization('rate_limited')
    audit(req.log, 'device_authorization.rate_limited', fields, 'device authorization rate limited')
    return answer(429, JSON.stringify(rateLimitedBody(seconds)), { ...NO_STORE_JSON, 'retry-after': String(seconds) })
  }
}

/** What a client's device authorizations are answered with: its flow settings and the response text. */
interface ClientAnswer {
  flow: FlowSettings
  responseBody: (deviceCode: string, userCode: string) => string
}
