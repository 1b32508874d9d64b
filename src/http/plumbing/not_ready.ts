/**
 * What the public listener answers before the app exists (http/plumbing/listener.ts): the process is alive
 * but the IdP's discovery document, which the token, revocation and discovery paths come from,
 * has not arrived. /healthz says the process answers; /readyz says why it is not ready (the URL
 * fetched and what came back); the verification pages get a page and everything else an RFC 6749
 * §5.2 `temporarily_unavailable`, all 503 and never cached. Nothing here reads a body: a request
 * that has one is answered and its connection closed. Pinned by
 * test/regressions/listens_before_idp.test.ts.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import type { Pages } from '../../ui/pages.js'
import { NO_STORE_JSON } from './deps.js'
import { pageHeaders } from './page_headers.js'

/** Seconds a client is asked to wait before trying again (RFC 9110 §10.2.3). */
const RETRY_AFTER_SECONDS = 5

/** The not-ready answers; `reason` is what /readyz says, kept current by the start-up (start.ts). */
export class NotReady {
  reason = 'the IdP discovery document has not been fetched yet'
  readonly #verificationPath: string
  readonly #genReqId: () => string
  readonly #log: FastifyBaseLogger
  readonly #pages: Pages

  constructor (verificationPath: string, genReqId: () => string, log: FastifyBaseLogger, pages: Pages) {
    this.#verificationPath = verificationPath
    this.#pages = pages
    this.#genReqId = genReqId
    this.#log = log
  }

  readonly handle: RequestListener = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!
    const extra: Record<string, string> = hasBody(req) ? { connection: 'close' } : {}
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      send(res, 200, JSON.stringify({ status: 'ok' }), { ...NO_STORE_JSON, ...extra })
    } else if (path === '/readyz' && (req.method === 'GET' || req.method === 'HEAD')) {
      send(res, 503, JSON.stringify({ status: 'not ready', reason: this.reason }), { ...NO_STORE_JSON, ...extra })
    } else if (path === this.#verificationPath || path.startsWith(`${this.#verificationPath}/`)) {
      const reqId = this.#genReqId()
      // the page's reference finds this line, as every error page's does (verification.ts)
      this.#log.info({ reqId, status: 503, page: 'starting', error: 'not_ready' }, 'error page')
      const uiLocales = new URLSearchParams((req.url ?? '').split('?')[1] ?? '').get('ui_locales') ?? undefined
      const page = this.#pages.errorPage(this.#pages.localeFor(req.headers, { uiLocales }), { key: 'starting' }, reqId, { path })
      send(res, 503, page, { ...pageHeaders(), 'content-type': 'text/html; charset=utf-8', 'retry-after': String(RETRY_AFTER_SECONDS), ...extra })
    } else {
      const body = JSON.stringify({ error: 'temporarily_unavailable', error_description: 'the sidecar is starting: the identity provider has not been reached yet' })
      send(res, 503, body, { ...NO_STORE_JSON, 'retry-after': String(RETRY_AFTER_SECONDS), ...extra })
    }
  }
}

function hasBody (req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
}

function send (res: ServerResponse, status: number, body: string, headers: Record<string, string>): void {
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}
