/**
 * `npm start`: the demo IdP on 127.0.0.1:3001 and the sidecar from config/sidecar.yaml in front of
 * it, in one process. Prints where to go and a curl that starts a device login.
 */
import { loadConfig } from '../src/config/load.js'
import { publicJwk, readPrivateKey } from '../src/config/private_key.js'
import type { UpstreamCredentials } from '../src/config/types.js'
import { closeOnSignal, serve } from '../src/main.js'
import { startDemoIdp } from './idp.js'

/** What the demo IdP registers for a client: its secret, or with private_key_jwt the public JWK of its key. */
function credentialsAtIdp (as: UpstreamCredentials): { client_secret: string } | { jwks: { keys: Array<Record<string, unknown>> } } {
  if (as.token_endpoint_auth_method !== 'private_key_jwt' || as.private_key === undefined) return { client_secret: as.client_secret ?? '' }
  return { jwks: { keys: [publicJwk(readPrivateKey(as.private_key), as.private_key_kid!, as.token_endpoint_auth_signing_alg!)] } }
}

const file = process.env.SIDECAR_CONFIG ?? 'config/sidecar.yaml'
const config = loadConfig(file)
const internal = new URL(config.upstream.url)
const redirectUri = `${config.server.public_url}${config.device_flow_settings.verification_path}/callback`
const idp = await startDemoIdp({
  issuer: config.upstream.issuer ?? config.server.public_url,
  host: internal.hostname,
  port: Number(internal.port),
  sidecar: {
    client_id: config.upstream.client_id,
    redirect_uri: redirectUri,
    token_endpoint_auth_method: config.upstream.token_endpoint_auth_method,
    ...credentialsAtIdp(config.upstream)
  },
  // device clients with their own IdP registration (so ID tokens carry their client_id as aud)
  extraClients: config.clients.flatMap(c => c.upstream === undefined ? [] : [{
    client_id: c.upstream.client_id,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code' as const],
    token_endpoint_auth_method: c.upstream.token_endpoint_auth_method,
    ...credentialsAtIdp(c.upstream)
  }])
})
const app = await serve(config)
if (app !== undefined) {
  const base = config.server.public_url
  const client = config.clients[0]!
  process.stderr.write(`
  device-flow-sidecar demo
  sidecar   ${base}  (in front of the demo IdP at ${idp.url}; any login and password work)
  discovery ${base}/.well-known/openid-configuration${config.admin.enabled ? `\n  metrics   http://${config.admin.host}:${config.admin.port}/metrics  (the admin API needs admin.token)` : ''}

  Start a device login:
    curl -s -d client_id=${client.client_id} -d 'scope=${client.scopes.join(' ')}' ${base}${config.device_flow_settings.device_authorization_path}
  then open verification_uri_complete in a browser, or run \`npm run device\` in another terminal.

`)
  await closeOnSignal(app)
}
await idp.close()
