import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RunningAgent } from '@tillbridge/agent';
import type { AgentHandle } from '@tillbridge/scripts/lib/cluster';
import type { FakeHidBinding, HidRecording } from '../../agent/test/support/fake-hid-binding.js';
import type { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { ROOT } from '@tillbridge/scripts/lib/paths';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { returnRequest, sale, worldForFile, type Decision } from './fixture.js';
import { startScannerAgent } from './hid-agent.js';
import { accessibilityViolations, type A11yViolation } from '../support/axe.js';

// The operator console (docs/console.md) in a real browser: Debian's chromium driven by playwright-core, against a
// hub and agents running as processes. TILLBRIDGE_CONSOLE_SCREENSHOTS=1 saves the screenshots docs/console.md shows.

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.warn(`console browser test skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/apt-packages)`);
const SCREENSHOTS = process.env.TILLBRIDGE_CONSOLE_SCREENSHOTS === '1';
const SHOTS_DIR = join(ROOT, 'docs', 'console');
const MANY = 5000;
/** The page's links, buttons and fields (outside a table: it scrolls in its own box) not within the screen's width. */
const OUT_OF_REACH =
  "[...document.querySelectorAll('header a, header button, main a, main button, main input, main select')]" +
  ".filter((e) => !e.closest('.table, .plain-wrap') && e.offsetParent !== null)" +
  '.map((e) => ({ what: e.textContent || e.getAttribute("aria-label"), box: e.getBoundingClientRect() }))' +
  '.filter((x) => x.box.left < 0 || x.box.right > window.innerWidth).map((x) => x.what)';

interface Violation {
  directive: string;
  blocked: string;
}

describe.skipIf(!hasChromium)('the operator console in Chromium', () => {
  const w = worldForFile({
    stores: ['S1', 'S2', 'S3'],
    stock: { S1: { 'SKU-A': 10 } },
    hubArgs: ['--console', '127.0.0.1:0'],
  });
  let browser: Browser;
  let page: Page;
  let consoleUrl: string;
  let operatorToken: string;
  let s1: AgentHandle;
  let s2: AgentHandle;
  let register: JsonLinesRegister;
  // S3's agent runs in this process with a HID barcode scanner (the test double of the HID binding)
  let s3: RunningAgent | undefined;
  let hid: FakeHidBinding;
  let scan: HidRecording;
  const errors: string[] = [];
  let decided = '';

  beforeAll(async () => {
    const built = join(ROOT, 'central', 'console-ui', 'dist', 'index.html');
    if (!existsSync(built)) throw new Error(`${built} is missing: run npm run build first`);
    const listening = await w.hub.proc.waitForLine((l) => l.msg === 'hub listening');
    consoleUrl = String(listening.console);
    expect(consoleUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/console\/$/);
    operatorToken = (
      await w.cliJson<{ token: string }>(['tokens', 'create', '--role', 'operator', '--name', 'console test'])
    ).token;
    [s1, s2] = [await w.startAgent('S1'), await w.startAgent('S2')];
    ({ agent: s3, hid, scan } = await startScannerAgent(w, 'S3'));
    register = await w.register(s1);
    expect(await register.send(sale('s-1', 'RC-1', [{ sku: 'SKU-A', qty: 2, unitPrice: 1500 }]))).toMatchObject({
      type: 'ack',
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    // every CSP violation the page meets (they are also logged to its console, which is watched above)
    await page.addInitScript({
      content:
        'window.cspViolations = []; document.addEventListener("securitypolicyviolation", (e) => ' +
        'window.cspViolations.push({ directive: e.violatedDirective, blocked: e.blockedURI }));',
    });
    if (SCREENSHOTS) mkdirSync(SHOTS_DIR, { recursive: true });
  });

  afterAll(async () => {
    await (browser as Browser | undefined)?.close();
    await s3?.stop();
  });

  const shot = async (name: string): Promise<void> => {
    if (SCREENSHOTS) await page.screenshot({ path: join(SHOTS_DIR, `${name}.png`) });
  };
  const stateOf = (store: string): Promise<string | null> =>
    page.locator(`[role=row][data-store="${store}"] [data-col=state]`).textContent({ timeout: 1000 });

  it('signs in with an operator token and shows the fleet, each store online', async () => {
    await page.goto(consoleUrl);
    await page.getByLabel('Operator or admin token').fill(operatorToken);
    await shot('sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('table', { name: 'Stores' }).waitFor();
    await waitFor('S1 online', async () => (await stateOf('S1')) === 'Online');
    await waitFor('S2 online', async () => (await stateOf('S2')) === 'Online');
    const cookies = await page.context().cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['tb_console', true, 'Strict']]);
    expect(await page.getByRole('status').textContent()).toBe('Live');
  });

  // the Activity view's charts (the whole fleet's last 30 minutes, computed by the hub), by their accessible names
  const activityChart = (name: RegExp) => page.getByRole('img', { name });
  const successChart = () => activityChart(/^Authorization success rate/);
  const latencyChart = () => activityChart(/^Decision latency/);
  const openView = async (link: string, heading: string): Promise<void> => {
    await page.getByRole('link', { name: link, exact: true }).click();
    await page.getByRole('heading', { name: heading, exact: true }).waitFor();
  };

  it('shows the fleet activity charts: no decision yet, the sale synced', async () => {
    await openView('Activity', 'Activity');
    expect(new URL(page.url()).hash).toBe('#/activity');
    // the charts are drawn once the timeline has arrived, after the heading: wait for the fifth
    await page.locator('.chart-grid canvas').nth(4).waitFor();
    expect(await page.locator('.chart-grid canvas').count()).toBe(5);
    expect(await successChart().getAttribute('aria-label')).toMatch(/: no decisions$/);
    expect(await latencyChart().getAttribute('aria-label')).toMatch(/: no online decision measured$/);
    // the sale the register sent was applied at the hub: its sync latency is charted
    const sync = activityChart(/^Sync latency/);
    expect(await sync.getAttribute('aria-label')).toMatch(/latest at \d\d:\d\d: median [\d.]+ (ms|s), 99th/);
    expect(await activityChart(/^Webhook deliveries/).getAttribute('aria-label')).toMatch(/: 0 delivered, 0 failed/);
    await openView('Fleet', 'Fleet');
  });

  it('shows a return decided at a register in the live list', async () => {
    const d = await register.send<Decision>(returnRequest('r-1', 'RC-1'));
    expect(d).toMatchObject({ decision: 'approved', mode: 'online' });
    const item = page.locator(`li[data-authorization="${d.authorization}"]`);
    await item.waitFor({ timeout: 10_000 });
    expect(await item.textContent()).toMatch(/approved.*S1 · R1.*online/);
    decided = d.authorization;
  });

  it('counts the decision in the chart of authorizations per minute (online, offline)', async () => {
    const chart = page.getByRole('img', { name: /^Authorizations per minute/ });
    await waitFor('the chart counts it', async () => (await chart.getAttribute('data-online')) === '1');
    expect(await chart.getAttribute('aria-label')).toMatch(/: 1 online, 0 offline; this minute/);
    expect(await chart.locator('canvas').count()).toBe(1);
    expect(await chart.locator('.u-legend').textContent()).toMatch(/online.*offline/);
  });

  it('moves the success-rate and decision latency charts when a return is decided', async () => {
    await openView('Activity', 'Activity');
    const said = async (chart: () => ReturnType<typeof successChart>): Promise<string> =>
      (await chart().getAttribute('aria-label')) ?? '';
    await waitFor('the success rate counts the decision', async () =>
      /: 100 % of 1; latest at \d\d:\d\d: 100 % of 1$/.test(await said(successChart)),
    );
    expect(await said(latencyChart)).toMatch(/latest at \d\d:\d\d: median [\d.]+ (ms|s), 99th percentile [\d.]+/);
    // the live list says the decision's latency too
    expect(await page.locator(`li[data-authorization="${decided}"] .latency`).textContent()).toMatch(/^[\d.]+ (ms|s)$/);
    await shot('activity');
    await openView('Fleet', 'Fleet');
  });

  it("opens a store's page from its row: registers, sales, decisions; an unplugged register is down", async () => {
    await page.locator('[role=row][data-store="S1"]').focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /^Store S1/ }).waitFor();
    expect(new URL(page.url()).hash).toBe('#/stores/S1');
    const terminals = page.getByRole('table', { name: 'Registers and scanners' });
    const r1 = terminals.locator('tr[data-register="R1"] [data-col=state]');
    await waitFor('R1 up', async () => (await r1.textContent()) === 'Up');
    expect(await terminals.locator('tr[data-register="R1"] [data-col=codec]').textContent()).toBe('jsonl');
    expect(await terminals.locator('tr[data-register="R1"] [data-col=kind]').textContent()).toBe('Register');
    expect(await page.locator('li[data-receipt="RC-1"]').textContent()).toMatch(/RC-1 · R1 · 30\.00 EUR · 1 line/);
    await page.locator(`.store-page li[data-authorization="${decided}"]`).waitFor();
    register.close(); // the register unplugged: its agent reports no connection
    await waitFor('R1 down in the page', async () => (await r1.textContent())?.startsWith('Down') === true, 10_000);
    await shot('store');
    await page.getByRole('link', { name: '← Fleet' }).click();
    await page.locator('[role=row][data-store="S2"]').click();
    await page.getByRole('heading', { name: /^Store S2/ }).waitFor();
    await page.getByRole('link', { name: '← Fleet' }).click();
    await page.getByRole('table', { name: 'Stores' }).waitFor();
  });

  it("shows a store's HID barcode scanner: plugged in, its last scan, unplugged and why", async () => {
    await page.goto(`${consoleUrl}#/stores/S3`);
    const sc1 = page.getByRole('table', { name: 'Registers and scanners' }).locator('tr[data-register="SC1"]');
    await sc1.waitFor();
    expect(await sc1.locator('[data-col=kind]').textContent()).toBe('Scanner → R1');
    expect(await sc1.locator('[data-col=codec]').textContent()).toBe('hid-keyboard');
    expect(await sc1.locator('[data-col=state]').textContent()).toMatch(/^Down \((disconnected|connecting)\)$/);
    hid.plug(scan.device);
    await waitFor('the scanner up', async () => (await sc1.locator('[data-col=state]').textContent()) === 'Up', 10_000);
    expect(await sc1.locator('td.transport').textContent()).toBe('hid://05e0:1200@/dev/hidraw3');
    const lastScan = sc1.locator('td').nth(2);
    expect(await lastScan.textContent()).toBe('—');
    for (const hex of scan.reports) hid.emitReport(scan.device.path, hex);
    // the scan's time comes to the open page
    await waitFor('the last scan shown', async () => (await lastScan.textContent())?.endsWith(' ago') === true);
    hid.unplug(scan.device.path);
    await waitFor(
      'the scanner down',
      async () => (await sc1.locator('[data-col=state]').textContent()) === 'Down (disconnected)',
      10_000,
    );
    expect(await sc1.textContent()).toMatch(/device lost|unplugged|no HID device 05e0:1200 plugged in/);
    await shot('store-scanner');
  });

  it('lists open exceptions with their detail; the audit tail, the chain verified, the checkpoint', async () => {
    const at = new Date().toISOString();
    const body = JSON.stringify({ businessDay: '2026-11-27', differences: [{ sku: 'SKU-A', qty: 1 }] });
    const insert =
      'INSERT INTO exceptions (id, store, register, kind, code, reason, body, created_at) ' +
      'VALUES (?, ?, ?, ?, ?, ?, ?, ?)';
    w.hubExec(insert, ...['x-1', 'S1', 'R1', 'day.close', 'day_discrepancy', 'the day does not add up', body, at]);
    // one more, left open
    w.hubExec(insert, ...['x-2', 'S1', 'R1', 'event', 'invalid', 'a sale the hub refused', null, at]);
    await page.getByRole('link', { name: 'Exceptions' }).click();
    const item = page.locator('li[data-exception="x-1"]');
    await item.locator('summary').click();
    expect(await item.locator('pre').textContent()).toContain('"businessDay": "2026-11-27"');
    expect(await item.locator('summary').textContent()).toMatch(/S1 · R1 · day_discrepancy · the day does not add up/);
    await shot('exceptions');
    // settled with the CLI while the view is open: it leaves the list without Refresh
    const resolved = await w.hub.cli(['returns', 'resolve', 'x-1', '--action', 'accept', '--note', 'counted again']);
    expect(resolved.code, resolved.stderr).toBe(0);
    await waitFor('x-1 gone from the open list', async () => (await item.count()) === 0, 10_000);
    expect(await page.locator('.oversight .section-head .summary').textContent()).toBe('1 open');

    const signed = await w.hub.cli(['audit', 'checkpoint', '--now']);
    expect(signed.code, signed.stderr).toBe(0);
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.locator('[data-verify=ok]').waitFor();
    expect(await page.locator('[data-checkpoint]').textContent()).toMatch(/^Last signed checkpoint: #1, /);
    const log = page.getByRole('table', { name: 'Audit log, newest first' });
    // textContent waits for the first row to be drawn; count() would not
    expect(await log.locator('tbody tr').first().textContent()).toContain('audit.checkpoint');
    expect(await log.locator('tbody tr').count()).toBeGreaterThan(0);
    await shot('audit');
    // an entry appended while the view is open comes to its top without Refresh
    const made = await w.hub.cli(['tokens', 'create', '--role', 'operator', '--name', 'live audit']);
    expect(made.code, made.stderr).toBe(0);
    await waitFor(
      'the new entry on top',
      async () => (await log.locator('tbody tr').first().textContent())?.includes('token.create') === true,
      10_000,
    );
    await page.getByRole('link', { name: 'Fleet' }).click();
    await page.getByRole('table', { name: 'Stores' }).waitFor();
  });

  it("shows a store offline within a few seconds of its agent's stop", async () => {
    await s2.proc.stop();
    await waitFor('S2 offline in the page', async () => (await stateOf('S2')) === 'Offline', 10_000);
    expect(await stateOf('S1')).toBe('Online');
    await shot('console');
  });

  it(`keeps only the rows in view in the page with ${MANY} stores, and filters them`, async () => {
    const at = new Date().toISOString();
    for (let i = 0; i < MANY; i += 500) {
      const rows = Array.from({ length: 500 }, (_, k) => `('M${String(i + k).padStart(5, '0')}', 'Many ${i + k}', ?)`);
      w.hubExec(`INSERT INTO stores (id, name, created_at) VALUES ${rows.join(', ')}`, ...rows.map(() => at));
    }
    await page.reload();
    const summary = page.locator('.fleet .summary');
    await waitFor('every store in the table', async () =>
      (await summary.textContent())?.includes(`of ${MANY + 3} stores online`),
    );
    const inDom = await page.locator('.body [role=row]').count();
    expect(inDom).toBeGreaterThan(5);
    expect(inDom).toBeLessThan(100);
    // to the bottom: the last store is drawn
    await page.locator('.body').evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await waitFor('the last row drawn', async () => (await stateOf('S2')) === 'Offline');
    await page.getByLabel('Filter').fill('M0499'); // M04990 … M04999
    await waitFor('the filter applied', async () => (await page.locator('.body [role=row]').count()) === 10);
    await page.getByLabel('Filter').fill('');
    await page.getByLabel('State').selectOption('offline');
    await waitFor('offline stores only', async () => (await page.locator('.body [data-store="S1"]').count()) === 0);
    await page.getByLabel('State').selectOption('all');
    await shot('many-stores');
  });

  it('fits a tablet, landscape and portrait: nothing wider than the screen, every control within reach', async () => {
    const views = ['#/', '#/stores/S1', '#/stores/S3', '#/activity', '#/exceptions', '#/audit'];
    for (const viewport of [
      { width: 1024, height: 768 },
      { width: 768, height: 1024 },
    ]) {
      await page.setViewportSize(viewport);
      for (const view of views) {
        await page.goto(consoleUrl + view);
        await page.locator('main section').first().waitFor();
        await page.locator('.loading').waitFor({ state: 'detached' });
        const at = `${view} at ${viewport.width}×${viewport.height}`;
        const widths = await page.evaluate<{ page: number; screen: number }>(
          '({ page: document.documentElement.scrollWidth, screen: window.innerWidth })',
        );
        expect(widths.page, `${at}: the page scrolls sideways`).toBeLessThanOrEqual(widths.screen);
        // every link, button and field is inside the screen's width (a wide table scrolls in its own box)
        const outside = await page.evaluate<string[]>(OUT_OF_REACH);
        expect(outside, `${at}: controls out of reach`).toEqual([]);
        if (view === '#/') {
          await page.getByLabel('Filter').fill('S1');
          await waitFor('filtered', async () => (await page.locator('.body [role=row]').count()) === 1);
          await page.locator('[role=row][data-store="S1"]').click();
          await page.getByRole('heading', { name: /^Store S1/ }).waitFor();
        }
        if (viewport.width === 768 && view === '#/stores/S3') await shot('tablet-store');
      }
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('met no console error and no CSP violation', async () => {
    const violations = await page.evaluate<Violation[]>('window.cspViolations');
    expect(violations).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('meets WCAG 2.1 AA as axe-core checks it: the fleet, a store, activity, exceptions, the audit log', async () => {
    const views: [string, () => Promise<void>][] = [
      ['fleet', () => page.getByRole('table', { name: 'Stores' }).waitFor()],
      ['stores/S1', () => page.getByRole('heading', { name: /^Store S1/ }).waitFor()],
      ['exceptions', () => page.locator('li[data-exception="x-2"]').waitFor()],
      ['audit', () => page.locator('[data-verify=ok]').waitFor()],
      ['activity', () => page.locator('.chart-grid canvas').nth(4).waitFor()],
    ];
    const found: Record<string, A11yViolation[]> = {};
    for (const [view, ready] of views) {
      await page.goto(`${consoleUrl}#/${view === 'fleet' ? '' : view}`);
      await ready();
      found[view] = await accessibilityViolations(page);
    }
    expect(found).toEqual({ fleet: [], 'stores/S1': [], exceptions: [], audit: [], activity: [] });
    // and the check finds what it should: a text box without a label
    await page.evaluate('document.body.append(document.createElement("input"))');
    expect((await accessibilityViolations(page)).map((v) => v.rule)).toContain('label');
    await page.reload();
  });

  it("refuses a write from the operator's session (405), and 401 once signed out", async () => {
    const status = await page.evaluate(async () => {
      const r = await fetch('/console/api/fleet', { method: 'POST', body: '{}' });
      return r.status;
    });
    expect(status).toBe(405);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Operator or admin token').waitFor();
    const after = await page.evaluate(async () => (await fetch('/console/api/fleet')).status);
    expect(after).toBe(401);
  });
});
