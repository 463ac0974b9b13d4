// Prints how systemd would start an installed unit, for .ci/package-test on a machine where systemd
// is not PID 1: its User=, its environment (Environment= lines, then each EnvironmentFile=, "-" =
// optional, later assignments winning) and its ExecStart= with $VAR split on whitespace and ${VAR}
// kept as one word, as systemd.service(5) says. Output: NUL-separated fields:
//   USER \0 KEY=VALUE \0 … \0 -- \0 ARGV0 \0 ARGV1 …
// Only what the shipped units use is understood; anything else in ExecStart= fails loudly.
import { existsSync, readFileSync } from 'node:fs';

const unitFile = process.argv[2];
if (!unitFile) throw new Error('usage: node unit-command.mjs UNIT_FILE');
const lines = readFileSync(unitFile, 'utf8')
  .split('\n')
  .map((l) => l.trim());
const env = new Map();
let user = 'root';
let exec;
const unquote = (v) =>
  v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))
    ? v.slice(1, -1)
    : v;
for (const line of lines) {
  const m = /^([A-Za-z]+)=(.*)$/.exec(line);
  if (!m) continue;
  const [, key, value] = m;
  if (key === 'User') user = value;
  else if (key === 'Environment')
    for (const a of value.match(/"[^"]*"|\S+/g) ?? []) {
      const s = unquote(a);
      const i = s.indexOf('=');
      env.set(s.slice(0, i), s.slice(i + 1));
    }
  else if (key === 'EnvironmentFile') {
    const optional = value.startsWith('-');
    const file = optional ? value.slice(1) : value;
    if (!existsSync(file)) {
      if (optional) continue;
      throw new Error(`${unitFile}: EnvironmentFile ${file} is missing`);
    }
    for (const l of readFileSync(file, 'utf8').split('\n')) {
      const t = l.trim();
      if (!t || t.startsWith('#') || t.startsWith(';')) continue;
      const i = t.indexOf('=');
      if (i < 1) throw new Error(`${file}: not KEY=VALUE: ${t}`);
      env.set(t.slice(0, i).trim(), unquote(t.slice(i + 1).trim()));
    }
  } else if (key === 'ExecStart') exec = value;
}
if (!exec) throw new Error(`${unitFile}: no ExecStart=`);
if (/^[-@:+!]/.test(exec)) throw new Error(`${unitFile}: ExecStart= prefixes are not understood here: ${exec}`);
const argv = [];
for (const word of exec.match(/"[^"]*"|\S+/g) ?? []) {
  const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
  if (whole) {
    argv.push(...(env.get(whole[1]) ?? '').split(/\s+/).filter(Boolean));
    continue;
  }
  argv.push(unquote(word).replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, k) => env.get(k) ?? ''));
}
process.stdout.write([user, ...[...env].map(([k, v]) => `${k}=${v}`), '--', ...argv].join('\0'));
