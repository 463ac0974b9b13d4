// CI (.ci/package-test): the operator console as the installed package serves it on 127.0.0.1:PORT — its page with
// the CSP, the script the page names (from /opt/tillbridge/hub/console, with its content type), and 401 from the API
// without a session. Exits non-zero saying what is wrong.
const port = process.argv[2];
const base = `http://127.0.0.1:${port}`;
try {
  const page = await fetch(`${base}/console/`);
  const html = await page.text();
  const csp = page.headers.get('content-security-policy') ?? '';
  if (page.status !== 200 || !/^text\/html/.test(page.headers.get('content-type') ?? ''))
    throw new Error(`the page answered ${page.status} (${page.headers.get('content-type')})`);
  if (!csp.includes("default-src 'self'")) throw new Error(`the page has no strict CSP: ${csp}`);
  const src = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  if (!src) throw new Error(`the page names no script: ${html}`);
  const js = await fetch(`${base}${src}`);
  if (js.status !== 200 || !/^text\/javascript/.test(js.headers.get('content-type') ?? ''))
    throw new Error(`${src} answered ${js.status} (${js.headers.get('content-type')})`);
  const api = await fetch(`${base}/console/api/fleet`);
  if (api.status !== 401) throw new Error(`the API without a session answered ${api.status}`);
  console.log(`console ok: ${base}/console/ and ${src}`);
} catch (err) {
  console.error(`console check failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
