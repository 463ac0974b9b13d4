import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TbError, type RegisterReply } from '@tillbridge/shared';
import { DelimitedCodec, loadProfile, RecordCodecConfigSchema } from '../src/gateway/codecs/records/index.js';
import { toCanonical } from '../src/gateway/canonical.js';

/** docs/legacy-profiles.md is the source of these examples: the test reads them from the page. */
const DOC = readFileSync(new URL('../../docs/legacy-profiles.md', import.meta.url), 'utf8');

function block(marker: string): string {
  const m = new RegExp(`<!-- ${marker} -->\\s*\`\`\`(?:json)?\\n([\\s\\S]*?)\\n\`\`\``).exec(DOC);
  if (!m) throw new Error(`docs/legacy-profiles.md has no block marked "${marker}"`);
  return m[1]!;
}
const json = (marker: string): unknown => JSON.parse(block(marker));

describe('docs/legacy-profiles.md: the walkthrough register, configured from the page alone', () => {
  const profile = loadProfile(json('profile: fabrikam-pos-12') as object);
  const codec = new DelimitedCodec(profile);

  it('decodes the example sale to the canonical message shown, and acks it echoing till and sequence', () => {
    const frame = Buffer.from(json('frame: fabrikam-pos-12') as string, 'utf8');
    const r = codec.decode(frame);
    expect(r.kind).toBe('messages');
    if (r.kind !== 'messages') return;
    const expected = json('canonical: fabrikam-pos-12');
    expect(r.messages).toEqual([expected]);
    expect(toCanonical(structuredClone(r.messages[0]))).toEqual({ ok: true, message: expected });
    expect(codec.encode([{ type: 'ack', id: '12-004711' }], r.context).toString('utf8')).toBe('OK;12;004711');
  });

  it('decodes the example return and writes the decision reply exactly as shown', () => {
    const r = codec.decode(Buffer.from(json('frame: fabrikam-pos-12 return') as string, 'utf8'));
    expect(r).toMatchObject({
      kind: 'messages',
      messages: [
        {
          type: 'return.request',
          id: '12-004712',
          receipt: 'B12-004711',
          lines: [{ line: 2, qty: 1, disposition: 'restock' }],
        },
      ],
    });
    const reply = json('reply: fabrikam-pos-12') as RegisterReply;
    const out = codec.encode([reply], r.kind === 'messages' ? r.context : undefined);
    expect(out.toString('utf8')).toBe(json('reply-bytes: fabrikam-pos-12'));
  });

  it('the problems shown for a broken profile are the ones the loader reports', () => {
    const broken = structuredClone(json('profile: fabrikam-pos-12')) as {
      request: { messages: { H: { fields: Record<string, { format?: string }> } } };
      reply: { records: { ack: { fields: { from: string }[] } } };
    };
    const fields = broken.request.messages.H.fields;
    fields.reciept = fields.receipt!;
    delete fields.receipt;
    fields.at!.format = 'DDMMhhmmss';
    broken.reply.records.ack.fields[1]!.from = 'context.sequence';
    let problems: string[] = [];
    try {
      loadProfile(broken);
    } catch (err) {
      problems = ((err as TbError).details?.problems as string[] | undefined) ?? [];
    }
    const shown = block('problems: fabrikam-pos-12')
      .split('\n')
      .slice(1)
      .map((l) => l.trim());
    expect(shown.length).toBe(4);
    expect(problems.slice().sort()).toEqual(shown.slice().sort());
  });

  it('the agent config snippets name a codec the agent accepts, and the shipped profile exists', () => {
    const fab = json('agent-config: fabrikam-pos-12') as { codec: unknown };
    expect(RecordCodecConfigSchema.parse(fab.codec)).toEqual({
      type: 'delimited',
      profile: '/etc/tillbridge/profiles/fabrikam-pos-12.json',
    });
    const acmeLine = DOC.split('\n').find((l) => l.startsWith('{"id":"R7"'));
    const acme = JSON.parse(acmeLine!) as { codec: { profile: string } };
    expect(RecordCodecConfigSchema.safeParse(acme.codec).success).toBe(true);
    expect(existsSync(new URL(`../../installers/profiles/${basename(acme.codec.profile)}`, import.meta.url))).toBe(
      true,
    );
  });
});
