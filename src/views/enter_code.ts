import { html } from './html.js'
import { layout } from './layout.js'

export interface EnterCodeView {
  action: string
  csrf: string
  /** Pre-filled value (from verification_uri_complete or the last attempt). */
  userCode?: string
  error?: string
}

/** The verification page: the person types the code their device shows. */
export function enterCodePage (v: EnterCodeView): string {
  return layout('Connect a device', html`
<h1>Connect a device</h1>
<p>Enter the code shown on your TV, console or other device.</p>
<form method="post" action="${v.action}" autocomplete="off">
<input type="hidden" name="csrf" value="${v.csrf}">
<label for="user_code">Code</label>
<input type="text" id="user_code" name="user_code" value="${v.userCode ?? ''}" placeholder="XXXX-XXXX" autocapitalize="characters" spellcheck="false" inputmode="text" maxlength="64" required autofocus${v.error === undefined ? '' : html` aria-describedby="code_error" aria-invalid="true"`}>
${v.error === undefined ? '' : html`<p id="code_error" class="error" role="alert">${v.error}</p>`}
<div class="submit"><button type="submit" name="action" value="lookup">Continue</button></div>
</form>
<p class="muted">Only enter a code that you got from a device in front of you. Never enter a code someone sent you.</p>
`)
}
