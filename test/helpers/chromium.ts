import { existsSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Debian's Chromium, headless, never a downloaded browser. undefined (with the reason) when it is
 * not installed — a skip locally, a failure under CI=true.
 */
export async function launchChromium (): Promise<{ browser?: Browser; skip?: string }> {
  if (!existsSync(CHROMIUM)) {
    const reason = `${CHROMIUM} is not installed (apt-get install chromium)`
    if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`)
    return { skip: reason }
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic']
  })
  return { browser }
}

/**
 * A person at the demo IdP's development pages (oidc-provider devInteractions), in Chromium: signs
 * in as `login` (any password), consents when asked, and resolves once the browser is back at the
 * sidecar's verification path (or wherever `back` says: an operator's front end).
 */
export async function signInAtIdp (page: Page, login: string, back: (url: URL) => boolean = url => url.pathname.startsWith('/device/')): Promise<void> {
  await page.fill('input[name=login]', login)
  await page.fill('input[name=password]', 'any')
  for (let steps = 0; steps < 3 && !back(new URL(page.url())); steps++) {
    const from = page.url()
    await Promise.all([page.waitForURL(url => url.toString() !== from), page.click('button[type=submit]')])
  }
  await page.waitForURL(back)
}
