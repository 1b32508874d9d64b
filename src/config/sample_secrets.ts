/**
 * Secrets anyone can read: the sample values this repository shows (README.md, docs/, deploy/,
 * config/). The loader refuses them, and any CHANGE-ME placeholder, in every secret field unless
 * `server.public_url` is a loopback address (the demo). Keep the list in step with those files:
 * test/regressions/published_sample_secrets.test.ts scans them and fails on a value missing here.
 * A value once published stays listed after it leaves the files: it is still in the history.
 */
export const PUBLISHED_SAMPLE_SECRETS: readonly string[] = [
  // config/sidecar.yaml, the demo
  'demo-sidecar-secret-change-me',
  'demo-tv-app-secret-change-me',
  // deploy/kubernetes/secret.example.yaml
  'CHANGE-ME-the-sidecar-client-secret-at-the-IdP',
  'CHANGE-ME-at-least-32-random-characters-0001',
  'CHANGE-ME-at-least-32-random-characters-0002',
  'CHANGE-ME-at-least-32-random-characters-0003'
]

/** A placeholder that asks to be replaced: CHANGE-ME, changeme, change_me, Change.Me, anywhere in the value. */
export const PLACEHOLDER_SECRET = /change[-_.]?me/i

/** True for a value from PUBLISHED_SAMPLE_SECRETS or one holding a CHANGE-ME placeholder. */
export function isPublishedSample (value: string): boolean {
  return PUBLISHED_SAMPLE_SECRETS.includes(value) || PLACEHOLDER_SECRET.test(value)
}
