import { html } from './html.js'
import { layout } from './layout.js'

export interface ConfirmView {
  action: string
  csrf: string
  /** Display form, e.g. WDJB-MJHT. */
  userCode: string
  clientName: string
  /** Each requested scope in words. */
  scopes: readonly string[]
  /** When the device asked, in words (UTC). */
  requestedAt: string
  /** How long ago, in words. */
  requestedAgo: string
  deviceIp: string
}

/**
 * The sidecar's own confirmation (RFC 8628 §5.4): who asks, for what, the code to compare, when
 * and from where, with Approve and Deny of equal weight. Shown before every IdP login.
 */
export function confirmPage (v: ConfirmView): string {
  return layout(`Allow ${v.clientName}?`, html`
<h1>Allow <span>${v.clientName}</span> to sign in as you?</h1>
<p>Check that this code matches the one on your device:</p>
<div class="code" aria-label="device code">${v.userCode}</div>
<dl>
<dt>Device</dt><dd>${v.clientName}</dd>
<dt>Asked</dt><dd>${v.requestedAgo} (${v.requestedAt})</dd>
<dt>From</dt><dd>${v.deviceIp}</dd>
<dt>Access</dt><dd><ul>${v.scopes.map(s => html`<li>${s}</li>`)}</ul></dd>
</dl>
<p class="warn">If you did not start this on a device in front of you, choose Deny. Someone may be trying to get into your account.</p>
<form method="post" action="${v.action}">
<input type="hidden" name="csrf" value="${v.csrf}">
<input type="hidden" name="user_code" value="${v.userCode}">
<div class="choices">
<button type="submit" name="action" value="deny">Deny</button>
<button type="submit" name="action" value="approve">Approve</button>
</div>
</form>
<p class="muted">Approve takes you to your sign-in page.</p>
`)
}
