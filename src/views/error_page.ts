import { html } from './html.js'
import { layout } from './layout.js'

export interface ErrorView {
  title: string
  message: string
  requestId: string
  /** Where to start again, when it makes sense. */
  retryHref?: string
}

/** An error for people: words, a request id to quote, never a stack or internal detail. */
export function errorPage (v: ErrorView): string {
  return layout(v.title, html`
<h1>${v.title}</h1>
<p>${v.message}</p>
${v.retryHref === undefined ? '' : html`<p><a href="${v.retryHref}">Enter a code again</a></p>`}
<p class="muted">Reference: ${v.requestId}</p>
`)
}
