/**
 * The logos an operator gives (ui.logo_file, clients[].logo_uri): a PNG or an SVG file of at most
 * MAX_IMAGE_BYTES, recognised by its content, never by its name. The config loader checks them
 * with readImageFile and src/ui/assets.ts reads them with it again, so both agree on what a logo
 * is. Pinned by test/config.test.ts ('ui: logo files …') and test/ui_assets.test.ts.
 */
import { readFileSync, statSync } from 'node:fs'

/** A logo is shown at a few dozen pixels: 256 KiB is room for any sensible one, and bounds what start-up reads. */
export const MAX_IMAGE_BYTES = 256 * 1024
/** The PNG signature (PNG specification, 3rd edition, §5.2). */
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
const UTF8_BOM = '\ufeff'
/** What may stand before an SVG's root element: blanks, the XML declaration, comments, a doctype (internal subset included). */
const SVG_PROLOGUE = /^(?:\s|<\?xml\s[^>]*\?>|<!--[\s\S]*?-->|<!DOCTYPE\s[^[>]*(?:\[[\s\S]*?\])?\s*>)*/i
const SVG_ROOT = /^<svg[\s/>]/

export type ImageType = 'image/png' | 'image/svg+xml'

/** A readable logo, or what is wrong with the file, in words that follow its path in a problem line. */
export type ImageFile = { type: ImageType; body: Buffer } | { problem: string }

/** The image type of `body` by its content: a PNG by its signature, an SVG by its first element. */
export function imageType (body: Buffer): ImageType | undefined {
  if (body.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) return 'image/png'
  let text = body.toString('utf8')
  if (text.startsWith(UTF8_BOM)) text = text.slice(UTF8_BOM.length)
  const prologue = SVG_PROLOGUE.exec(text)?.[0].length ?? 0
  return SVG_ROOT.test(text.slice(prologue)) ? 'image/svg+xml' : undefined
}

/** Reads the logo at `path` (absolute): its type and bytes, or the problem (unreadable, too large, not a PNG or SVG). */
export function readImageFile (path: string): ImageFile {
  let body: Buffer
  try {
    const size = statSync(path).size
    if (size > MAX_IMAGE_BYTES) return { problem: `${path} is ${size} bytes; a logo may have at most ${MAX_IMAGE_BYTES} (256 KiB)` }
    body = readFileSync(path)
  } catch (err) {
    return { problem: `${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})` }
  }
  const type = imageType(body)
  return type === undefined ? { problem: `${path} is neither a PNG nor an SVG file` } : { type, body }
}
