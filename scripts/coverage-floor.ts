import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareToFloor, coverageTotals, parseFloor, raiseFloor } from './lib/coverage-floor.js';
import { ROOT } from './lib/paths.js';

/**
 * Compares the coverage of the last `TILLBRIDGE_COVERAGE=1 vitest run` (coverage/coverage-summary.json) to the
 * committed floor (coverage-floor.json): exit 1 when any metric fell below it. With --raise, writes the measured
 * values into coverage-floor.json where they are higher (never lower). docs/development.md#coverage.
 */
const summaryFile = join(ROOT, 'coverage', 'coverage-summary.json');
const floorFile = join(ROOT, 'coverage-floor.json');
const raise = process.argv.includes('--raise');

const actual = coverageTotals(JSON.parse(readFileSync(summaryFile, 'utf8')));
const floor = parseFloor(JSON.parse(readFileSync(floorFile, 'utf8')));
const verdicts = compareToFloor(actual, floor);
for (const v of verdicts) {
  const mark = v.ok ? 'ok  ' : 'LOW ';
  process.stdout.write(`${mark} ${v.metric.padEnd(10)} ${v.actual.toFixed(2)}% (floor ${v.floor.toFixed(2)}%)\n`);
}
if (raise) {
  const raised = raiseFloor(actual, floor);
  writeFileSync(floorFile, `${JSON.stringify(raised, null, 2)}\n`);
  process.stdout.write(`coverage-floor.json: ${JSON.stringify(raised)}\n`);
}
if (verdicts.some((v) => !v.ok)) {
  process.stderr.write('coverage fell below the floor in coverage-floor.json: add tests, or say why in review\n');
  process.exitCode = 1;
}
