import { html } from './html.js'
import { layout } from './layout.js'

export interface OutcomeView {
  kind: 'approved' | 'denied'
  clientName: string
}

/** What happened, in words, once the grant is settled. */
export function outcomePage (v: OutcomeView): string {
  if (v.kind === 'approved') {
    return layout('Device connected', html`
<h1 class="ok">Device connected</h1>
<p><strong>${v.clientName}</strong> is now signed in. It may take a few seconds to notice.</p>
<p class="muted">You can close this page.</p>
`)
  }
  return layout('Request denied', html`
<h1>Request denied</h1>
<p><strong>${v.clientName}</strong> will not be signed in.</p>
<p class="muted">You can close this page. To try again, start over on the device.</p>
`)
}
