import { cspHash, html, raw, type SafeHtml } from './html.js'

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#59636e;--bg:#f6f8fa;--card:#fff;--line:#d1d9e0;--accent:#0b57d0;--bad:#b3261e;--good:#146c2e}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--card:#151b23;--line:#3d444d;--accent:#7cacf8;--bad:#f2b8b5;--good:#6dd58c}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg);display:flex;min-height:100vh;align-items:flex-start;justify-content:center}
main{width:100%;max-width:30rem;margin:2rem 1rem;background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1.5rem}
h1{font-size:1.4rem;line-height:1.3;margin:0 0 .75rem}
p{margin:.5rem 0}
.muted{color:var(--muted);font-size:.9rem}
label{display:block;font-weight:600;margin:1rem 0 .4rem}
input[type=text]{width:100%;font:600 1.6rem/1.2 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;letter-spacing:.12em;text-align:center;text-transform:uppercase;padding:.6rem;border:2px solid var(--line);border-radius:8px;background:var(--bg);color:var(--fg)}
input[type=text]:focus{outline:none;border-color:var(--accent)}
button{font:600 1rem/1 system-ui,sans-serif;padding:.9rem 1rem;border-radius:8px;border:2px solid var(--accent);background:var(--accent);color:var(--card);cursor:pointer;width:100%}
.choices{display:grid;grid-template-columns:1fr 1fr;gap:.75rem;margin-top:1.25rem}
.choices button{background:var(--card);color:var(--fg);border-color:var(--fg)}
.submit{margin-top:1rem}
.code{font:700 1.8rem/1.2 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;letter-spacing:.15em;text-align:center;padding:.75rem;border:1px dashed var(--line);border-radius:8px;margin:.5rem 0 1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.35rem 1rem;margin:1rem 0}
dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere}
ul{margin:.25rem 0 0;padding-left:1.2rem}
a{color:var(--accent)}
.error{color:var(--bad);font-weight:600}
.ok{color:var(--good)}
.warn{border-left:4px solid var(--bad);padding:.5rem .75rem;background:var(--bg);border-radius:4px;font-size:.95rem}
`
/** The CSP hash of the one inline stylesheet, for the Content-Security-Policy header. */
export const STYLE_HASH = cspHash(STYLE)

/** The page shell every view renders into: no external assets, one inline stylesheet. */
export function layout (title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<style>${raw(STYLE)}</style>
</head>
<body><main>
${body}
</main></body>
</html>
`.value
}
