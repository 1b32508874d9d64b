/**
 * The files the verification pages load: the sidecar's favicon, the operator's logo
 * (ui.logo_file), each client's logo (clients[].logo_uri), and what the pages add (the
 * stylesheet). The pages' Content-Security-Policy allows images from their own origin only
 * (img-src 'self'), so the sidecar serves every one of them itself, each at a path that names
 * its content: `{verification_path}/assets/<first 12 hex digits of its sha256>/<name>`. A changed
 * file gets a new path, so each can be cached for ever. Files are read once, at start-up
 * (a logo changed on disk, or a client's logo_uri changed by a reload, shows after a restart).
 * Served by src/http/endpoints/asset_routes.ts; pinned by test/ui_assets.test.ts.
 */
import { createHash } from 'node:crypto'
import type { Config } from '../config/types.js'
import { readImageFile, type ImageType } from '../config/image_file.js'
import { SidecarError } from '../errors.js'

/** Hex digits of the sha256 in an asset's path: 48 bits, plenty to tell a handful of files apart. */
const HASH_DIGITS = 12
/** What an added asset may be called: one path segment, safe in a URL and an HTML attribute. */
const ASSET_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/
/** The longest client_id slug in a client logo's file name. */
const MAX_SLUG = 40
/** The names of the built-in lookups, never taken by `add`. */
const RESERVED: ReadonlySet<string> = new Set(['favicon', 'logo'])
const EXTENSION: Readonly<Record<ImageType, string>> = { 'image/png': 'png', 'image/svg+xml': 'svg' }

/**
 * The sidecar's favicon: a screen with a check mark, in slate on light browser tabs and light
 * grey on dark ones (the SVG's own prefers-color-scheme query), drawn on a 16-unit grid so it
 * stays sharp at 16 px.
 */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">
<style>.s{fill:#334155}.c{stroke:#fff}@media (prefers-color-scheme:dark){.s{fill:#e2e8f0}.c{stroke:#0f172a}}</style>
<rect class="s" x="1" y="1.5" width="14" height="10.5" rx="2"/>
<rect class="s" x="4.5" y="13" width="7" height="1.75" rx=".875"/>
<path class="c" d="M4.75 6.75l2.25 2.25 4.25-4.5" fill="none" stroke-width="1.75" stroke-linecap="round" stroke-linejoin="round"/>
</svg>
`

/** One served file. */
export interface Asset {
  /** The path it is served at: `{verification_path}/assets/<hash>/<file name>`. */
  readonly path: string
  /** The exact content-type header. */
  readonly contentType: string
  readonly body: Buffer
}

/**
 * The assets of one sidecar, and the URL of each for the templates. Built with Assets.load;
 * `add` more before the routes are registered (src/http/endpoints/asset_routes.ts seals it).
 */
export class Assets {
  readonly #base: string
  /** By lookup name: 'favicon', 'logo', or the name given to `add`. */
  readonly #named = new Map<string, Asset>()
  readonly #clientLogos = new Map<string, Asset>()
  #sealed = false

  /** An empty set of assets served under `{verificationPath}/assets/`; Assets.load is what the app uses. */
  constructor (verificationPath: string) {
    this.#base = `${verificationPath}/assets`
  }

  /**
   * The favicon, ui.logo_file (as 'logo') and every client's logo_uri, read from the files the
   * config loader checked. Throws SidecarError ERR_CONFIG_INVALID when one is no longer a
   * readable PNG or SVG of at most 256 KiB (it changed on disk after the config was loaded).
   */
  static load (config: Config): Assets {
    const assets = new Assets(config.device_flow_settings.verification_path)
    assets.#put('favicon', 'favicon.svg', 'image/svg+xml', Buffer.from(FAVICON_SVG))
    if (config.ui.logo_file !== undefined) {
      const logo = readLogo(config.ui.logo_file, 'ui.logo_file')
      assets.#put('logo', `logo.${EXTENSION[logo.type]}`, logo.type, logo.body)
    }
    config.clients.forEach((client, i) => {
      if (client.logo_uri === undefined) return
      const logo = readLogo(client.logo_uri, `clients[${i}].logo_uri`)
      assets.#clientLogos.set(client.client_id, assets.#asset(`client-${slug(client.client_id, i)}.${EXTENSION[logo.type]}`, logo.type, logo.body))
    })
    return assets
  }

  /**
   * Adds a file served as `name` with the exact `contentType` (the stylesheet: 'text/css;
   * charset=utf-8'); `url(name)` is then its path. Throws when `name` is taken or not a plain
   * file name (lower-case letters, digits, `.`, `_`, `-`), or once the routes are registered.
   */
  add (name: string, contentType: string, body: Buffer | string): void {
    if (!ASSET_NAME.test(name)) throw new TypeError(`asset name ${JSON.stringify(name)} is not a plain file name`)
    if (this.#named.has(name) || RESERVED.has(name)) throw new TypeError(`asset ${JSON.stringify(name)} is already there`)
    this.#put(name, name, contentType, typeof body === 'string' ? Buffer.from(body) : body)
  }

  /** The path of 'favicon', 'logo' (undefined without ui.logo_file) or an added asset; undefined for any other name. */
  url (name: string): string | undefined {
    return this.#named.get(name)?.path
  }

  /** The path of the client's logo; undefined when it has none (or came with a reload: logos are read at start-up). */
  clientLogoUrl (clientId: string): string | undefined {
    return this.#clientLogos.get(clientId)?.path
  }

  /** The path under which every asset lies: `{verification_path}/assets`. */
  get base (): string {
    return this.#base
  }

  /** Every asset, one per path, and no `add` from now on (the routes are being registered). */
  seal (): Asset[] {
    this.#sealed = true
    const byPath = new Map<string, Asset>()
    for (const asset of [...this.#named.values(), ...this.#clientLogos.values()]) byPath.set(asset.path, asset)
    return [...byPath.values()]
  }

  #put (name: string, file: string, contentType: string, body: Buffer): void {
    this.#named.set(name, this.#asset(file, contentType, body))
  }

  #asset (file: string, contentType: string, body: Buffer): Asset {
    if (this.#sealed) throw new Error('assets are added before their routes are registered')
    const hash = createHash('sha256').update(body).digest('hex').slice(0, HASH_DIGITS)
    return Object.freeze({ path: `${this.#base}/${hash}/${file}`, contentType, body })
  }
}

function readLogo (path: string, setting: string): { type: ImageType; body: Buffer } {
  const image = readImageFile(path)
  if ('problem' in image) throw new SidecarError('ERR_CONFIG_INVALID', `${setting}: ${image.problem}`)
  return image
}

/** A client_id as a file name: lower case, runs of anything but letters and digits as one `-`; the client's index when nothing is left. */
function slug (clientId: string, index: number): string {
  const s = clientId.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, MAX_SLUG).replace(/-+$/, '')
  return s === '' ? String(index) : s
}
