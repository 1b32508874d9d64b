import { request } from 'undici'
import type { TestSidecar } from './sidecar.js'

export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: any
}

/** A POST with a form (object) or a raw body (string), returning status, headers and body. */
export async function post (url: string, body: Record<string, string> | string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  const isRaw = typeof body === 'string' || Buffer.isBuffer(body)
  const res = await request(url, {
    method: 'POST',
    headers: { ...(isRaw ? {} : { 'content-type': 'application/x-www-form-urlencoded' }), ...headers },
    body: isRaw ? body : new URLSearchParams(body).toString()
  })
  return toReply(res.statusCode, res.headers, await res.body.text())
}

export async function get (url: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await request(url, { headers })
  return toReply(res.statusCode, res.headers, await res.body.text())
}

function toReply (status: number, headers: Record<string, string | string[] | undefined>, text: string): Reply {
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status, headers, text, json }
}

export function basic (id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`
}

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

/** POST /device_authorization for a public client. */
export function authorize (sc: TestSidecar, form: Record<string, string> = { client_id: 'tv-app', scope: 'openid offline_access' }, headers: Record<string, string> = {}): Promise<Reply> {
  return post(`${sc.url}/device_authorization`, form, headers)
}

/** One device_code poll at the token endpoint. */
export function poll (sc: TestSidecar, deviceCode: string, clientId = 'tv-app', headers: Record<string, string> = {}): Promise<Reply> {
  return post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: clientId }, headers)
}
