/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`test/config.test.ts > TAP > lists every problem at once, schema and cross-field, sorted by JSON pointer > must match snapshot 1`] = `
Array [
  "/clients/0/grant_types/0: must be one of \\"urn:ietf:params:oauth:grant-type:device_code\\", \\"refresh_token\\"",
  "/clients/0/scopes/0: must match pattern \\"^[\\\\x21\\\\x23-\\\\x5B\\\\x5D-\\\\x7E]+$\\"",
  "/device_flow_settings/device_flow_polling_interval_seconds: must be >= 1",
  "/device_flow_settings/device_flow_usercode_length: must be integer",
  "/server/extra: is not a known setting",
  "/server/port: must be <= 65535",
  "/server/public_url: must match pattern \\"^https?://\\"",
  "/server/public_url: must match format \\"uri\\"",
  "/store/type: must be one of \\"memory\\", \\"redis\\"",
  "/surprise: is not a known setting",
  "/upstream/client_id: must NOT have fewer than 1 characters",
  "/upstream/client_secret: is required",
  "/upstream/token_endpoint_auth_method: must be one of \\"client_secret_basic\\", \\"client_secret_post\\", \\"private_key_jwt\\"",
]
`
