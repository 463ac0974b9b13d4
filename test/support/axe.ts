import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

/** What axe-core found wrong in a page: the rule, how bad, and where (a CSS selector per element, a few at most). */
export interface A11yViolation {
  rule: string;
  impact: string | null;
  help: string;
  where: string[];
}

/** The rules of WCAG 2.0 and 2.1, levels A and AA (labels, names, roles, keyboard, colour contrast…). */
const WCAG_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core's WCAG 2.1 AA rules over the page as it is now. axe is put into the page through the browser's
 * debugging protocol (the page's Content-Security-Policy allows no script but its own, rightly): nothing is loaded
 * from elsewhere, and the page's own code is not changed.
 */
export async function accessibilityViolations(page: Page): Promise<A11yViolation[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async (tags: string[]) => {
    interface AxeResult {
      violations: { id: string; impact?: string | null; help: string; nodes: { target: unknown[] }[] }[];
    }
    // in the page (this file is compiled without the DOM's types)
    const inPage = globalThis as unknown as {
      axe: { run(ctx: unknown, o: object): Promise<AxeResult> };
      document: unknown;
    };
    const r = await inPage.axe.run(inPage.document, {
      runOnly: { type: 'tag', values: tags },
      resultTypes: ['violations'],
    });
    return r.violations.map((v) => ({
      rule: v.id,
      impact: v.impact ?? null,
      help: v.help,
      where: v.nodes.slice(0, 5).map((n) => n.target.map(String).join(' ')),
    }));
  }, WCAG_AA);
}
