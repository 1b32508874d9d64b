import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

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
