import path from 'node:path';
import { TbCodes, TbError } from '../errors.js';
import { mustRun, type CommandResult, type CommandRunner } from './runner.js';

/**
 * `tillbridge-agent service …` on Windows, through WinSW (the Windows Service Wrapper): WinSW's exe,
 * renamed to ID.exe, with its configuration ID.xml next to it, registers and runs the service
 * (WinSW 2.x: `ID.exe install|uninstall|start|stop|status`). Every Windows path here is built with
 * path.win32, whatever system this runs on. The XML keeps to the elements WinSW documents
 * (doc/xmlConfigFile.md in the WinSW repository); see docs/install-windows.md.
 */
const win = path.win32;

/** Where a Windows install keeps what is not the program: %ProgramData%\Tillbridge (WinSW expands %…%). */
export const WINDOWS_HOME = win.join('%ProgramData%', 'Tillbridge');

/** The low-privilege account the service runs as: LocalService, or the service's own virtual account NT SERVICE\ID. */
export type WindowsAccount = 'localservice' | 'virtual';

export interface WinswService {
  id: string;
  name: string;
  description: string;
  /** node.exe, absolute. */
  executable: string;
  /** Its arguments: the bundled CLI script and `run`. */
  arguments: string[];
  env: Record<string, string>;
  workingDirectory: string;
  logDirectory: string;
  account: WindowsAccount;
}

/** Characters a Windows file name cannot hold (ID.exe and ID.xml are file names). */
const NOT_IN_FILE_NAMES = /[<>:"/\\|?*]/;

/**
 * A Windows service name: 1 to 256 characters, no / or \ (the service control manager's rules),
 * none of < > : " | ? * nor control characters (it names WinSW's files), no space at either end.
 */
export function checkServiceName(id: string, key = '--name'): string {
  if (id.length === 0 || id.length > 256)
    throw new TbError(TbCodes.CONFIG, `${key}: a Windows service name is 1 to 256 characters, got ${id.length}`);
  if (/[/\\]/.test(id))
    throw new TbError(TbCodes.CONFIG, `${key}: a Windows service name cannot contain / or \\, got "${id}"`);
  // eslint-disable-next-line no-control-regex
  if (NOT_IN_FILE_NAMES.test(id) || /[\x00-\x1f\x7f]/.test(id))
    throw new TbError(
      TbCodes.CONFIG,
      `${key}: "${id}" cannot name WinSW's files (no < > : " | ? * or control characters)`,
    );
  if (id.trim() !== id)
    throw new TbError(TbCodes.CONFIG, `${key}: no space at the start or end of a service name, got "${id}"`);
  return id;
}

/**
 * A Windows serial port: COM1 … COM256, or the device form \\.\COM10 (needed by some APIs from COM10
 * on). Case is ignored; the name is returned in capitals. Anything else is an error naming `key`.
 */
export function checkComPort(name: string, key = 'port'): string {
  const m = /^(\\\\\.\\)?COM([1-9]\d{0,2})$/i.exec(name);
  const n = m ? Number(m[2]) : NaN;
  if (!m || n < 1 || n > 256) {
    throw new TbError(
      TbCodes.CONFIG,
      `${key}: expected a Windows serial port COM1 to COM256 (or \\\\.\\COM10), got "${name}"`,
    );
  }
  return `${m[1] ?? ''}COM${n}`;
}

/**
 * The serial ports an agent config names (registers[i].transport.path of "serial" registers),
 * each checked as a Windows COM port: the errors, each naming its key.
 */
export function windowsSerialProblems(config: unknown): string[] {
  const registers = (config as { registers?: unknown } | null)?.registers;
  if (!Array.isArray(registers)) return [];
  const problems: string[] = [];
  registers.forEach((r: unknown, i) => {
    const t = (r as { transport?: { type?: unknown; path?: unknown } } | null)?.transport;
    if (t?.type !== 'serial') return;
    try {
      checkComPort(String(t.path), `registers[${i}].transport.path`);
    } catch (err) {
      problems.push((err as Error).message);
    }
  });
  return problems;
}

const xmlText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const xmlAttr = (s: string): string => xmlText(s).replace(/"/g, '&quot;');

/**
 * One argument quoted for a Windows command line as the C runtime parses it: quotes only when
 * needed; backslashes doubled before a quote.
 */
export function quoteWindowsArg(arg: string): string {
  if (arg !== '' && !/[\s"]/.test(arg)) return arg;
  let out = '"';
  let slashes = 0;
  for (const ch of arg) {
    if (ch === '\\') slashes++;
    else if (ch === '"') {
      out += '\\'.repeat(slashes * 2 + 1) + '"';
      slashes = 0;
    } else {
      out += '\\'.repeat(slashes) + ch;
      slashes = 0;
    }
  }
  return `${out}${'\\'.repeat(slashes * 2)}"`;
}

/** WinSW's XML for the service. */
export function winswXml(s: WinswService): string {
  checkServiceName(s.id, 'id');
  if (!win.isAbsolute(s.executable))
    throw new TbError(TbCodes.CONFIG, `executable: an absolute Windows path to node.exe, got "${s.executable}"`);
  const account =
    s.account === 'virtual'
      ? `  <serviceaccount>\n    <domain>NT SERVICE</domain>\n    <user>${xmlText(s.id)}</user>\n  </serviceaccount>`
      : '  <serviceaccount>\n    <domain>NT AUTHORITY</domain>\n    <user>LocalService</user>\n  </serviceaccount>';
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!-- Written by `tillbridge-agent service install` (docs/install-windows.md). Read by WinSW. -->',
    '<service>',
    `  <id>${xmlText(s.id)}</id>`,
    `  <name>${xmlText(s.name)}</name>`,
    `  <description>${xmlText(s.description)}</description>`,
    `  <executable>${xmlText(s.executable)}</executable>`,
    `  <arguments>${xmlText(s.arguments.map(quoteWindowsArg).join(' '))}</arguments>`,
    ...Object.entries(s.env).map(([k, v]) => `  <env name="${xmlAttr(k)}" value="${xmlAttr(v)}"/>`),
    `  <workingdirectory>${xmlText(s.workingDirectory)}</workingdirectory>`,
    '  <startmode>Automatic</startmode>',
    '  <delayedAutoStart>true</delayedAutoStart>',
    account,
    // restart after 10 s, then 30 s, then every minute; the count is forgotten after an hour of running
    '  <onfailure action="restart" delay="10 sec"/>',
    '  <onfailure action="restart" delay="30 sec"/>',
    '  <onfailure action="restart" delay="60 sec"/>',
    '  <resetfailure>1 hour</resetfailure>',
    // Ctrl+C first (Node: SIGINT, the same orderly stop as SIGTERM on Linux), then 20 s before it is killed
    '  <stoptimeout>20 sec</stoptimeout>',
    `  <logpath>${xmlText(s.logDirectory)}</logpath>`,
    '  <log mode="roll-by-size">',
    '    <sizeThreshold>10240</sizeThreshold>',
    '    <keepFiles>8</keepFiles>',
    '  </log>',
    '</service>',
    '',
  ];
  return lines.join('\r\n');
}

/** The agent's service as WinSW runs it: node.exe CLI run, config and data under %ProgramData%\Tillbridge. */
export function agentWinswService(o: {
  id?: string;
  node: string;
  cli: string;
  account?: WindowsAccount;
  config?: string;
}): WinswService {
  const id = checkServiceName(o.id ?? 'tillbridge-agent');
  return {
    id,
    name: 'Tillbridge store agent',
    description: 'Links the registers of this store to the Tillbridge returns hub.',
    executable: o.node,
    arguments: [o.cli, 'run'],
    env: { TILLBRIDGE_CONFIG: o.config ?? win.join(WINDOWS_HOME, 'agent.json') },
    workingDirectory: win.join(WINDOWS_HOME, 'data'),
    logDirectory: win.join(WINDOWS_HOME, 'logs'),
    account: o.account ?? 'localservice',
  };
}

/** WinSW's exe and its XML: ID.xml next to ID.exe (WinSW 2.x reads the XML named like itself). */
export function winswFiles(exe: string): { exe: string; xml: string } {
  if (!win.isAbsolute(exe) || win.extname(exe).toLowerCase() !== '.exe')
    throw new TbError(TbCodes.CONFIG, `--winsw: the absolute path of WinSW's .exe, got "${exe}"`);
  return { exe, xml: win.join(win.dirname(exe), `${win.basename(exe, win.extname(exe))}.xml`) };
}

export interface WinswTarget {
  /** WinSW's exe, renamed to the service id (e.g. C:\Program Files\Tillbridge\service\tillbridge-agent.exe). */
  exe: string;
  run: CommandRunner;
  /** Writes a file (the XML); injectable because the path is a Windows path. */
  write: (file: string, text: string) => void;
  remove: (file: string) => void;
}

export async function winswInstall(t: WinswTarget & { service: WinswService; now?: boolean }): Promise<string[]> {
  const { exe, xml } = winswFiles(t.exe);
  t.write(xml, winswXml(t.service));
  const done = [`wrote ${xml}`];
  await mustRun(t.run, exe, ['install']);
  done.push(`${exe} install`);
  if (t.now) {
    await mustRun(t.run, exe, ['start']);
    done.push(`${exe} start`);
  }
  return done;
}

export async function winswUninstall(t: WinswTarget): Promise<string[]> {
  const { exe, xml } = winswFiles(t.exe);
  // stopping a service that is not running fails: that is fine here
  await t.run(exe, ['stop']);
  await mustRun(t.run, exe, ['uninstall']);
  t.remove(xml);
  return [`${exe} stop`, `${exe} uninstall`, `removed ${xml}`];
}

export async function winswControl(
  t: Pick<WinswTarget, 'exe' | 'run'>,
  what: 'start' | 'stop' | 'status',
): Promise<CommandResult> {
  const { exe } = winswFiles(t.exe);
  return what === 'status' ? t.run(exe, ['status']) : mustRun(t.run, exe, [what]);
}
