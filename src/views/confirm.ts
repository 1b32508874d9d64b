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
  /** What Approve leads to at the IdP. */
  signIn: SignInStep
}

/**
 * What the IdP will ask after Approve, as the upstream request forces it: `login` (prompt=login or
 * max_age 0), `recent_login` (max_age above 0), `select_account`, `consent`, or `session` (nothing
 * forced: an IdP session may approve at once). `idp` names where the person is sent (its host).
 */
export type SignInStep =
  | { kind: 'login' | 'select_account' | 'consent' | 'session'; idp: string }
  | { kind: 'recent_login'; idp: string; maxAgeSeconds: number }

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
<p class="muted next">${afterApprove(v.signIn, v.clientName)}</p>
`)
}

function afterApprove (step: SignInStep, clientName: string): string {
  switch (step.kind) {
    case 'login': return `Approve takes you to ${step.idp} to sign in again before ${clientName} is connected.`
    case 'recent_login': return `Approve takes you to ${step.idp}, which asks you to sign in again unless you did in the last ${duration(step.maxAgeSeconds)}.`
    case 'select_account': return `Approve takes you to ${step.idp} to choose the account ${clientName} is connected to.`
    case 'consent': return `Approve takes you to ${step.idp} to confirm this access. If you are already signed in there, you are not asked to sign in again.`
    case 'session': return `Approve takes you to ${step.idp}. If you are already signed in there, ${clientName} is connected at once.`
  }
}

function duration (seconds: number): string {
  if (seconds < 120) return `${seconds} seconds`
  if (seconds < 7200) return `${Math.floor(seconds / 60)} minutes`
  return `${Math.floor(seconds / 3600)} hours`
}
