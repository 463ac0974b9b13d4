/**
 * The agent's Windows service through WinSW, checked here on Linux: the XML it writes (well-formed,
 * only the elements and attributes WinSW documents, the values the service needs), the command
 * lines it runs (through an injected runner: WinSW cannot run here), and the Windows name rules.
 * Nothing here ran on Windows (docs/install-windows.md says what was and was not checked).
 */
import { describe, expect, it } from 'vitest';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import {
  agentWinswService,
  checkComPort,
  checkServiceName,
  quoteWindowsArg,
  windowsSerialProblems,
  winswFiles,
  winswInstall,
  winswUninstall,
  winswControl,
  winswXml,
  type CommandResult,
} from '@tillbridge/shared';

/**
 * WinSW's configuration elements as its documentation lists them (doc/xmlConfigFile.md and
 * doc/loggingAndErrorReporting.md, WinSW 2.x), with the attributes each takes. WinSW's own XSD
 * (src/Core/WinSWCore/XMLSchema.xsd) declares <env> and <onfailure> as plain text without
 * attributes, which the documented <env name value/> does not fit, so it is not used as the check.
 */
const SERVICE_ELEMENTS: Record<string, string[]> = {
  id: [],
  name: [],
  description: [],
  executable: [],
  startmode: [],
  delayedAutoStart: [],
  depend: [],
  logpath: [],
  logmode: [],
  log: ['mode'],
  argument: [],
  arguments: [],
  startargument: [],
  stopargument: [],
  stopexecutable: [],
  stoptimeout: [],
  env: ['name', 'value'],
  interactive: [],
  beeponshutdown: [],
  download: ['from', 'to', 'failOnError', 'auth', 'user', 'password', 'unsecureAuth', 'proxyServer'],
  onfailure: ['action', 'delay'],
  resetfailure: [],
  securtityDescriptor: [],
  serviceaccount: [],
  workingdirectory: [],
  priority: [],
  stopparentprocessfirst: [],
};
const SERVICEACCOUNT_ELEMENTS = ['domain', 'user', 'password', 'allowservicelogon'];
const LOG_ELEMENTS = [
  'sizeThreshold',
  'keepFiles',
  'pattern',
  'autoRollAtTime',
  'period',
  'zipOlderThanNumDays',
  'zipDateFormat',
];

type Node = Record<string, unknown>;
/** Parsed in document order: [{ tag: [children…], ':@': { '@_attr': value } }, …]. */
const parse = (xml: string): Node[] =>
  new XMLParser({ preserveOrder: true, ignoreAttributes: false, parseTagValue: false, trimValues: true }).parse(
    xml,
  ) as Node[];
const tagOf = (n: Node): string => Object.keys(n).find((k) => k !== ':@')!;
const attrsOf = (n: Node): Record<string, string> =>
  Object.fromEntries(
    Object.entries((n[':@'] ?? {}) as Record<string, string>).map(([k, v]) => [k.replace(/^@_/, ''), v]),
  );
const textOf = (n: Node): string => ((n[tagOf(n)] as Node[])[0]?.['#text'] as string | undefined) ?? '';

/** The documented-element check: every problem found (empty: the XML keeps to WinSW's documentation). */
function winswProblems(xml: string): string[] {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) return [`not well-formed: ${valid.err.msg} (line ${valid.err.line})`];
  const roots = parse(xml).filter((n) => !tagOf(n).startsWith('?') && tagOf(n) !== '#comment');
  if (roots.length !== 1 || tagOf(roots[0]!) !== 'service') return ['the root element must be <service>'];
  const problems: string[] = [];
  for (const child of roots[0]!.service as Node[]) {
    const tag = tagOf(child);
    if (tag === '#comment') continue;
    if (!(tag in SERVICE_ELEMENTS)) {
      problems.push(`<${tag}> is not a WinSW element`);
      continue;
    }
    for (const a of Object.keys(attrsOf(child)))
      if (!SERVICE_ELEMENTS[tag]!.includes(a)) problems.push(`<${tag} ${a}=…> is not a WinSW attribute`);
    const allowed = tag === 'serviceaccount' ? SERVICEACCOUNT_ELEMENTS : tag === 'log' ? LOG_ELEMENTS : undefined;
    if (allowed)
      for (const g of child[tag] as Node[])
        if (!allowed.includes(tagOf(g))) problems.push(`<${tag}><${tagOf(g)}> is not a WinSW element`);
  }
  for (const once of ['id', 'name', 'description', 'executable']) {
    const count = (roots[0]!.service as Node[]).filter((c) => tagOf(c) === once).length;
    if (count !== 1) problems.push(`<${once}> ${count === 0 ? 'is missing' : 'appears more than once'}`);
  }
  return problems;
}

const NODE = 'C:\\Program Files\\nodejs\\node.exe';
const CLI = 'C:\\Program Files\\Tillbridge\\agent\\bin\\tillbridge-agent.js';

function elements(xml: string): Node[] {
  return (parse(xml).find((n) => tagOf(n) === 'service')!.service as Node[]).filter((c) => tagOf(c) !== '#comment');
}
const one = (xml: string, tag: string): Node => elements(xml).find((c) => tagOf(c) === tag)!;

describe("the agent's WinSW XML", () => {
  const xml = winswXml(agentWinswService({ node: NODE, cli: CLI }));

  it('keeps to the elements and attributes WinSW documents', () => {
    expect(winswProblems(xml)).toEqual([]);
  });

  it('the check can fail: an unknown element, attribute, or a missing id is reported', () => {
    expect(winswProblems(xml.replace('<startmode>', '<startMode>').replace('</startmode>', '</startMode>'))).toEqual([
      '<startMode> is not a WinSW element',
    ]);
    expect(
      winswProblems(
        xml.replace('<onfailure action="restart" delay="10 sec"/>', '<onfailure action="restart" after="10 sec"/>'),
      ),
    ).toEqual(['<onfailure after=…> is not a WinSW attribute']);
    expect(winswProblems(xml.replace(/<id>.*<\/id>/, ''))).toEqual(['<id> is missing']);
    expect(winswProblems(xml.replace('</service>', ''))[0]).toMatch(/not well-formed/);
  });

  it('runs node.exe on the bundled CLI with `run`, the config and data under %ProgramData%\\Tillbridge', () => {
    expect(textOf(one(xml, 'id'))).toBe('tillbridge-agent');
    expect(textOf(one(xml, 'executable'))).toBe(NODE);
    expect(textOf(one(xml, 'arguments'))).toBe(`"${CLI}" run`);
    expect(attrsOf(one(xml, 'env'))).toEqual({
      name: 'TILLBRIDGE_CONFIG',
      value: '%ProgramData%\\Tillbridge\\agent.json',
    });
    expect(textOf(one(xml, 'workingdirectory'))).toBe('%ProgramData%\\Tillbridge\\data');
    expect(textOf(one(xml, 'logpath'))).toBe('%ProgramData%\\Tillbridge\\logs');
  });

  it(
    'low privilege (LocalService, no password), ' + 'automatic delayed start, restarts on failure, logs rolled by size',
    () => {
      const account = one(xml, 'serviceaccount').serviceaccount as Node[];
      expect(account.map((n) => [tagOf(n), textOf(n)])).toEqual([
        ['domain', 'NT AUTHORITY'],
        ['user', 'LocalService'],
      ]);
      expect(textOf(one(xml, 'startmode'))).toBe('Automatic');
      expect(textOf(one(xml, 'delayedAutoStart'))).toBe('true');
      const failures = elements(xml)
        .filter((c) => tagOf(c) === 'onfailure')
        .map(attrsOf);
      expect(failures).toEqual([
        { action: 'restart', delay: '10 sec' },
        { action: 'restart', delay: '30 sec' },
        { action: 'restart', delay: '60 sec' },
      ]);
      expect(attrsOf(one(xml, 'log'))).toEqual({ mode: 'roll-by-size' });
      expect((one(xml, 'log').log as Node[]).map((n) => [tagOf(n), textOf(n)])).toEqual([
        ['sizeThreshold', '10240'],
        ['keepFiles', '8'],
      ]);
    },
  );

  it('the virtual account NT SERVICE\\<id> on request', () => {
    const v = winswXml(agentWinswService({ node: NODE, cli: CLI, account: 'virtual', id: 'tillbridge-agent-2' }));
    expect(winswProblems(v)).toEqual([]);
    expect((one(v, 'serviceaccount').serviceaccount as Node[]).map((n) => [tagOf(n), textOf(n)])).toEqual([
      ['domain', 'NT SERVICE'],
      ['user', 'tillbridge-agent-2'],
    ]);
  });

  it('text that needs escaping survives: & < > " in paths and values', () => {
    const odd = winswXml(
      agentWinswService({ node: 'C:\\A&B <x>\\node.exe', cli: 'C:\\q"uote\\cli.js', config: 'D:\\R&D\\agent.json' }),
    );
    expect(winswProblems(odd)).toEqual([]);
    expect(new XMLParser({ processEntities: true }).parse(odd).service.executable).toBe('C:\\A&B <x>\\node.exe');
    expect(new XMLParser({ processEntities: true }).parse(odd).service.arguments).toBe('"C:\\q\\"uote\\cli.js" run');
    expect(new XMLParser({ ignoreAttributes: false, processEntities: true }).parse(odd).service.env['@_value']).toBe(
      'D:\\R&D\\agent.json',
    );
  });

  it('a relative node.exe path is refused', () => {
    expect(() => winswXml(agentWinswService({ node: 'node.exe', cli: CLI }))).toThrow(
      /executable: an absolute Windows path to node.exe, got "node.exe"/,
    );
  });
});

describe('Windows names', () => {
  it.each(['COM1', 'com256', '\\\\.\\COM10', '\\\\.\\com3'])(
    'COM ports: COM1 to COM256 and \\\\.\\COMn, any case: %s is taken, in capitals',
    (path) => {
      expect(checkComPort(path)).toBe(path.toUpperCase());
    },
  );

  it('COM ports: others refused naming the key', () => {
    for (const bad of [
      'COM0',
      'COM257',
      'COM',
      'COM01',
      'COM1:',
      '/dev/ttyS0',
      'LPT1',
      '\\\\?\\COM3',
      '\\\\.\\COM0',
      ' COM1',
    ]) {
      expect(() => checkComPort(bad, 'registers[0].transport.path'), bad).toThrow(
        /registers\[0\]\.transport\.path: expected a Windows serial port COM1 to COM256/,
      );
    }
  });

  it("an agent config's serial registers: each non-COM path named by its key", () => {
    const config = {
      registers: [
        { id: 'R1', transport: { type: 'serial', path: 'COM3' } },
        { id: 'R2', transport: { type: 'tcp-server', port: 9100 } },
        { id: 'R3', transport: { type: 'serial', path: '/dev/ttyUSB0' } },
      ],
    };
    expect(windowsSerialProblems(config)).toEqual([
      'registers[2].transport.path: expected a Windows serial port COM1 to COM256 ' +
        '(or \\\\.\\COM10), got "/dev/ttyUSB0"',
    ]);
    expect(windowsSerialProblems({ store: 'S1' })).toEqual([]);
  });

  it('service names: 1 to 256 characters, no / or \\, nothing a file name cannot hold', () => {
    expect(checkServiceName('tillbridge-agent')).toBe('tillbridge-agent');
    expect(checkServiceName('x'.repeat(256))).toHaveLength(256);
    expect(() => checkServiceName('')).toThrow(/--name: a Windows service name is 1 to 256 characters, got 0/);
    expect(() => checkServiceName('x'.repeat(257))).toThrow(/1 to 256 characters, got 257/);
    expect(() => checkServiceName('a/b')).toThrow(/cannot contain \/ or \\/);
    expect(() => checkServiceName('a\\b')).toThrow(/cannot contain \/ or \\/);
    expect(() => checkServiceName('a:b')).toThrow(/cannot name WinSW's files/);
    expect(() => checkServiceName('a\tb')).toThrow(/cannot name WinSW's files/);
    expect(() => checkServiceName(' agent')).toThrow(/no space at the start or end/);
  });

  it('command-line quoting as the C runtime reads it', () => {
    expect(quoteWindowsArg('run')).toBe('run');
    expect(quoteWindowsArg('C:\\Program Files\\a.js')).toBe('"C:\\Program Files\\a.js"');
    expect(quoteWindowsArg('C:\\my dir\\')).toBe('"C:\\my dir\\\\"');
    expect(quoteWindowsArg('say "hi"')).toBe('"say \\"hi\\""');
    expect(quoteWindowsArg('')).toBe('""');
  });
});

describe('WinSW command lines (injected runner: WinSW cannot run here)', () => {
  const EXE = 'C:\\Program Files\\Tillbridge\\service\\tillbridge-agent.exe';
  function fake(fail: string[] = []) {
    const calls: [string, string[]][] = [];
    const files = new Map<string, string>();
    const run = (cmd: string, args: string[]): Promise<CommandResult> => {
      calls.push([cmd, args]);
      return Promise.resolve(
        fail.includes(args[0]!)
          ? { code: 1, stdout: '', stderr: `cannot ${args[0]}` }
          : { code: 0, stdout: args[0] === 'status' ? 'Started\r\n' : '', stderr: '' },
      );
    };
    return {
      calls,
      files,
      run,
      write: (f: string, t: string) => void files.set(f, t),
      remove: (f: string) => void files.delete(f),
    };
  }

  it('install: the XML next to the exe (same name), then `ID.exe install`, and `start` with --now', async () => {
    const f = fake();
    const service = agentWinswService({ node: NODE, cli: CLI });
    const done = await winswInstall({ exe: EXE, run: f.run, write: f.write, remove: f.remove, service, now: true });
    const xmlFile = 'C:\\Program Files\\Tillbridge\\service\\tillbridge-agent.xml';
    expect([...f.files.keys()]).toEqual([xmlFile]);
    expect(f.files.get(xmlFile)).toBe(winswXml(service));
    expect(f.calls).toEqual([
      [EXE, ['install']],
      [EXE, ['start']],
    ]);
    expect(done).toEqual([`wrote ${xmlFile}`, `${EXE} install`, `${EXE} start`]);
  });

  it("a failing install is an error quoting WinSW's output", async () => {
    const f = fake(['install']);
    await expect(
      winswInstall({ exe: EXE, ...f, service: agentWinswService({ node: NODE, cli: CLI }) }),
    ).rejects.toThrow(/tillbridge-agent.exe install` failed \(exit 1\): cannot install/);
  });

  it('uninstall: stop (a service already stopped is fine), uninstall, the XML removed', async () => {
    const f = fake(['stop']);
    f.files.set('C:\\Program Files\\Tillbridge\\service\\tillbridge-agent.xml', '<service/>');
    await winswUninstall({ exe: EXE, ...f });
    expect(f.calls).toEqual([
      [EXE, ['stop']],
      [EXE, ['uninstall']],
    ]);
    expect(f.files.size).toBe(0);
  });

  it('start, stop, status', async () => {
    const f = fake();
    await winswControl({ exe: EXE, run: f.run }, 'start');
    await winswControl({ exe: EXE, run: f.run }, 'stop');
    expect((await winswControl({ exe: EXE, run: f.run }, 'status')).stdout).toBe('Started\r\n');
    expect(f.calls.map((c) => c[1][0])).toEqual(['start', 'stop', 'status']);
  });

  it("WinSW's exe must be an absolute Windows path to an .exe", () => {
    expect(winswFiles('D:\\tb\\svc.exe').xml).toBe('D:\\tb\\svc.xml');
    expect(() => winswFiles('svc.exe')).toThrow(/--winsw: the absolute path of WinSW's .exe/);
    expect(() => winswFiles('C:\\tb\\svc.xml')).toThrow(/--winsw/);
  });
});

describe("WinSW's default place", () => {
  it(
    'INSTALLDIR\\service\\tillbridge-agent.exe: ' + 'the release bundle (script at the root) or a source tree (bin\\)',
    async () => {
      const { defaultWinswExe } = await import('../src/cli/service.js');
      expect(defaultWinswExe('C:\\Program Files\\Tillbridge\\tillbridge-agent.mjs')).toBe(
        'C:\\Program Files\\Tillbridge\\service\\tillbridge-agent.exe',
      );
      expect(defaultWinswExe('D:\\tb\\agent\\bin\\tillbridge-agent.js')).toBe(
        'D:\\tb\\agent\\service\\tillbridge-agent.exe',
      );
    },
  );
});
