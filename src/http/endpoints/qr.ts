/**
 * `GET {verification_path}/qr?user_code=CODE[&format=svg|png]`: a QR code of the code's
 * verification_uri_complete, for a TV to show beside the code. It is built from config alone: the
 * code is checked for form (the configured charset and length, normalised as the page does) and
 * never looked up, so the endpoint tells a guesser nothing; and it only ever encodes the sidecar's
 * own verification URL, so it cannot be made to draw someone else's link. Each render is counted
 * per address in its own bucket with the allowance of device_authorization_per_ip: a device shows
 * one QR code per code it is issued, and a render (~0.5 ms SVG, ~5 ms PNG) is the work being bounded.
 * Pinned by test/qr.test.ts.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import QRCode from 'qrcode'
import { candidateUserCodes, formatUserCode } from '../../device/codes.js'
import { NO_STORE_JSON, type RouteDeps } from '../plumbing/deps.js'
import { rateLimitedBody } from '../plumbing/outcomes.js'
import { verificationUriComplete, verificationUris } from '../plumbing/verification_uris.js'

/** ISO/IEC 18004 level M: about 15 % of the code may be damaged or covered (glare on a TV) and it still reads. */
const ERROR_CORRECTION = 'M'
/** ISO/IEC 18004 §6.3.8: a quiet zone of 4 modules on every side. */
const QUIET_ZONE_MODULES = 4
/** Pixels per module: a short URL (version 4, 33 modules) is a 328-pixel square, readable across a room. */
const PIXELS_PER_MODULE = 8
/** The longest user_code parameter considered (a code is far shorter): longer ones are refused before any work. */
const TYPED_MAX = 64
/** The limiter's name for renders (Limiter.take). */
const RENDER_SCOPE = 'qr:ip'
/** An SVG opened directly from the sidecar's origin is a document: no script, no loads, inline styles only. */
const SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
/**
 * The image depends only on its URL and the config (no cookie is read), so a TV app on another
 * origin may show it with `<img>`: CORP cross-origin. No CORS header: a script elsewhere cannot read it.
 */
const IMAGE_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'cross-origin-resource-policy': 'cross-origin' }

type Format = 'svg' | 'png'

export async function qrRoutes (app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { config, limiter } = deps
  const dfs = config.device_flow_settings
  const uris = verificationUris(config)
  const options = { errorCorrectionLevel: ERROR_CORRECTION, margin: QUIET_ZONE_MODULES } as const

  app.get(`${dfs.verification_path}/qr`, async (req, reply) => {
    const query = req.query as Record<string, unknown>
    const typed = query.user_code
    const format = query.format ?? 'svg'
    if (typeof typed !== 'string') return invalid(reply, 'user_code is required, once')
    if (format !== 'svg' && format !== 'png') return invalid(reply, 'format must be svg or png')
    // a well-formed code of any configured format (clients[].device_flow_settings), never looked up
    const code = typed.length > TYPED_MAX ? undefined : candidateUserCodes(typed, deps.codeFormats.list(deps.clock.now()))[0]
    if (code === undefined) return invalid(reply, 'user_code is not a user code of this service')
    const wait = await limiter.take(RENDER_SCOPE, req.ip, l => l.device_authorization_per_ip)
    if (wait !== undefined) return reply.code(429).headers({ ...NO_STORE_JSON, 'retry-after': String(wait) }).send(JSON.stringify(rateLimitedBody(wait)))
    return render(reply, verificationUriComplete(uris, formatUserCode(code)), format)
  })

  async function render (reply: FastifyReply, text: string, format: Format): Promise<FastifyReply> {
    if (format === 'png') {
      const png = await QRCode.toBuffer(text, { ...options, type: 'png', scale: PIXELS_PER_MODULE })
      return reply.headers({ ...IMAGE_HEADERS, 'content-type': 'image/png' }).send(png)
    }
    const modules = QRCode.create(text, options).modules.size
    const width = (modules + 2 * QUIET_ZONE_MODULES) * PIXELS_PER_MODULE
    const svg = await QRCode.toString(text, { ...options, type: 'svg', width })
    return reply.headers({ ...IMAGE_HEADERS, 'content-type': 'image/svg+xml', 'content-security-policy': SVG_CSP }).send(svg)
  }
}

function invalid (reply: FastifyReply, description: string): FastifyReply {
  return reply.code(400).headers(NO_STORE_JSON).send(JSON.stringify({ error: 'invalid_request', error_description: description }))
}
