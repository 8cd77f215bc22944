/**
 * The code samples of README.md and docs/*.md: every ```ts and ```js block, with what the
 * comment right above it says about running it. tests/docs-samples.test.ts type-checks and runs
 * them; scripts/package-test.mjs type-checks the TypeScript ones against the installed tarball.
 *
 * An annotation is an HTML comment on the line before the fence (invisible on GitHub, visible
 * in the source): `<!-- sample: WORD WORD=VALUE ... -->`. The words:
 *   fragment      type-checked, not run (it needs something the page only describes)
 *   module        a file other samples of the same page import: type-checked, not run itself
 *   file=NAME     the file name the block is written to (default sample-N.ts / sample-N.mjs)
 *   server        serves until stopped: run until its port answers, checked, then sent SIGTERM
 *   echo          (server) what is sent must come back
 *   tls           cert.pem and key.pem beside it; a server is reached over TLS
 *   port=N        the sample's port N is replaced by a free one (samples keep a readable port)
 *   needs=echo    a node:net echo server listens on the port while it runs
 *   tmpdir        `/tmp/` in the sample becomes its own temporary directory
 * A block without annotation runs to completion and must exit 0.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface DocSample {
  /** Where it is: `docs/clients.md:42` (the fence's line). */
  where: string;
  /** The markdown file, relative to the repository root. */
  page: string;
  lang: 'ts' | 'js';
  code: string;
  file: string;
  fragment: boolean;
  module: boolean;
  server: boolean;
  echo: boolean;
  tls: boolean;
  tmpdir: boolean;
  port: number | undefined;
  needs: string | undefined;
}

const WORDS = new Set(['fragment', 'module', 'server', 'echo', 'tls', 'tmpdir', 'file', 'port', 'needs']);

/** The pages whose samples are tested: README.md and every docs/*.md. */
export function samplePages(root: string): string[] {
  const docs = path.join(root, 'docs');
  const pages = fs.readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  return ['README.md', ...pages.sort()];
}

/** Every ```ts / ```js block of `page`; throws on an annotation word it does not know. */
export function extractSamples(root: string, page: string): DocSample[] {
  const lines = fs.readFileSync(path.join(root, page), 'utf8').split('\n');
  const samples: DocSample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(ts|js)\s*$/.exec(lines[i]!);
    if (!fence) {
      // Skip other fenced blocks whole, so that a ``` inside them is not taken for a sample.
      if (/^```/.test(lines[i]!)) while (++i < lines.length && !/^```\s*$/.test(lines[i]!));
      continue;
    }
    const lang = fence[1] as 'ts' | 'js';
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && !/^```\s*$/.test(lines[i]!)) body.push(lines[i]!);
    const note = /^<!--\s*sample:(.*?)-->\s*$/.exec(lines[start - 1] ?? '')?.[1]?.trim().split(/\s+/) ?? [];
    const words = new Map<string, string>();
    for (const w of note) {
      const [key, value = ''] = w.split('=');
      if (!WORDS.has(key!)) throw new Error(`${page}:${start + 1}: unknown sample annotation '${w}'`);
      words.set(key!, value);
    }
    const n = samples.length + 1;
    samples.push({
      where: `${page}:${start + 1}`,
      page,
      lang,
      code: `${body.join('\n')}\n`,
      file: words.get('file') || `sample-${n}.${lang === 'ts' ? 'ts' : 'mjs'}`,
      fragment: words.has('fragment'),
      module: words.has('module'),
      server: words.has('server'),
      echo: words.has('echo'),
      tls: words.has('tls'),
      tmpdir: words.has('tmpdir'),
      port: words.has('port') ? Number(words.get('port')) : undefined,
      needs: words.get('needs'),
    });
  }
  return samples;
}
