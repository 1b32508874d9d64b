/**
 * Serves src/ui/assets.ts's files: one exact GET (and HEAD) route per asset, so OwnPaths sees
 * each path and the proxy never takes one, and a 404 for any other request under the assets path
 * (a stale hash, an unknown name, another method), answered here and never passed to the IdP. Pinned by
 * test/ui_assets.test.ts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Assets } from '../../ui/assets.js'

/** The path names the content, so the file never changes: cache it for a year and never revalidate (RFC 8246). */
const FOREVER = 'public, max-age=31536000, immutable'
/** An SVG opened directly from the sidecar's origin is a document: no script, no loads, inline styles only. */
const SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
const NOT_FOUND = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }

export interface AssetRouteOptions {
  assets: Assets
}

/** Registers the asset routes; `assets.add` throws from here on. */
export async function assetRoutes (app: FastifyInstance, { assets }: AssetRouteOptions): Promise<void> {
  for (const asset of assets.seal()) {
    const headers: Record<string, string> = {
      'content-type': asset.contentType,
      'cache-control': FOREVER,
      'x-content-type-options': 'nosniff',
      'cross-origin-resource-policy': 'same-origin',
      ...(asset.contentType === 'image/svg+xml' ? { 'content-security-policy': SVG_CSP } : {})
    }
    app.get(asset.path, async (_req, reply) => reply.headers(headers).send(asset.body))
  }
  const notFound = async (_req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => reply.code(404).headers(NOT_FOUND).send()
  app.all(assets.base, notFound)
  app.all(`${assets.base}/*`, notFound)
}
