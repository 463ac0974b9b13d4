/**
 * installers/windows/Install-Tillbridge.ps1, read as text: PowerShell is not installed here, so the
 * script is NOT executed. What is checked: the parameters it declares, the agent commands it runs
 * (and that the agent's CLI has every option it passes), the Node.js check, and that each exit code
 * it uses is documented in its help and each documented one is used. When `pwsh` is on PATH, the
 * script is also parsed by PowerShell's own parser.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { AGENT_BIN, ROOT } from '@tillbridge/scripts/lib/paths';

const FILE = join(ROOT, 'installers', 'windows', 'Install-Tillbridge.ps1');
const text = readFileSync(FILE, 'utf8');
const param = /\nparam\(([\s\S]*?)\n\)/.exec(text)?.[1] ?? '';

describe('Install-Tillbridge.ps1 (text only: not executed, no PowerShell here)', () => {
  it('declares -HubUrl, -Store (mandatory), -EnrollmentCode, -InstallDir, -Quiet', () => {
    const declared = [...param.matchAll(/\[(?:string|switch)\]\$(\w+)/g)].map((m) => m[1]);
    expect(declared).toEqual(expect.arrayContaining(['HubUrl', 'Store', 'EnrollmentCode', 'InstallDir', 'Quiet']));
    expect(param).toMatch(/Mandatory = \$true\)\]\[string\]\$HubUrl/);
    expect(param).toMatch(/Mandatory = \$true\)\]\[string\]\$Store/);
    expect(param).toMatch(/\[switch\]\$Quiet/);
    // each parameter has its help
    for (const p of declared) expect(text, `.PARAMETER ${p}`).toContain(`.PARAMETER ${p}`);
  });

  it('checks for Node.js 20 or later', () => {
    expect(text).toMatch(/process\.versions\.node/);
    expect(text).toMatch(/-lt 20\) \{ Fail 11/);
  });

  it('enrolls, then installs and starts the service through the agent CLI', () => {
    expect(text).toMatch(/& \$NodePath \$Cli enroll --hub \$HubUrl --code \$EnrollmentCode/);
    expect(text).toMatch(
      /& \$NodePath \$Cli service install --winsw \$Winsw --account \$Account --config \$ConfigFile/,
    );
    expect(text).toMatch(/& \$NodePath \$Cli service start --winsw \$Winsw/);
    expect(text.indexOf(' enroll ')).toBeLessThan(text.indexOf('service install'));
  });

  it("the options it passes to `service install` and `service start` are the agent CLI's", () => {
    const install = spawnSync(process.execPath, [AGENT_BIN, 'service', 'install', '--help'], { encoding: 'utf8' });
    expect(install.status).toBe(0);
    for (const o of ['--winsw', '--account', '--config']) expect(install.stdout).toContain(o);
    expect(
      spawnSync(process.execPath, [AGENT_BIN, 'service', 'start', '--help'], { encoding: 'utf8' }).stdout,
    ).toContain('--winsw');
    // the account values it accepts are the CLI's
    expect(param).toMatch(/ValidateSet\('localservice', 'virtual'\)/);
  });

  it('every exit code it uses is documented, and every documented one is used', () => {
    const notes = text.slice(text.indexOf('Exit codes:'), text.indexOf('#>'));
    const documented = [...notes.matchAll(/^\s+(\d+)\s{2,}\S/gm)].map((m) => Number(m[1])).sort((a, b) => a - b);
    const used = [...new Set([...text.matchAll(/\b(?:Fail|exit) (\d+)/g)].map((m) => Number(m[1])))].sort(
      (a, b) => a - b,
    );
    expect(documented).toEqual([0, 1, 10, 11, 12, 13, 14, 15]);
    expect(used).toEqual(documented);
  });

  const pwsh = spawnSync('pwsh', ['-NoProfile', '-Command', '$PSVersionTable.PSVersion.ToString()'], {
    encoding: 'utf8',
  });
  it.skipIf(pwsh.status !== 0)('PowerShell parses it without errors (only where pwsh is installed)', () => {
    const r = spawnSync(
      'pwsh',
      [
        '-NoProfile',
        '-Command',
        `$e=$null; [System.Management.Automation.Language.Parser]::ParseFile('${FILE}', ` +
          `[ref]$null, [ref]$e) | Out-Null; $e.Count`,
      ],
      { encoding: 'utf8' },
    );
    expect(r.stdout.trim()).toBe('0');
  });
});
