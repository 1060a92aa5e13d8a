/**
 * README.md and docs/ link to each other, to headings and to the source that documents each field.
 * A renamed heading or a moved file breaks such a link without any other test noticing, and the
 * README grows back unless its budget is checked. The checker is pure (files in, problems out) so
 * that it can be shown to fail on a broken link before it is trusted to pass on the real docs.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../src/paths.ts';

/** What the checker may ask of the repository. Paths are relative to the repository root, with '/'. */
interface Repo {
  exists(path: string): boolean;
  /** The text of a file; undefined for a folder or a missing file. */
  read(path: string): string | undefined;
}

interface Link {
  readonly line: number;
  readonly text: string;
  readonly target: string;
}

/** The README is what a newcomer reads in five minutes; the rest belongs in docs/. */
const README_MAX_LINES = 200;
/** The README opens with these two commands, before any other. */
const README_COMMANDS = ['npm start', 'npm test'];

const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/** For each line, whether it belongs to a fenced code block (the fence lines included), and the blocks' contents. */
function fencedCode(markdown: string): { readonly inFence: boolean[]; readonly blocks: string[][] } {
  const inFence: boolean[] = [];
  const blocks: string[][] = [];
  let open: { readonly char: string; readonly length: number; readonly lines: string[] } | undefined;
  for (const line of markdown.split('\n')) {
    const fence = FENCE.exec(line);
    if (!open) {
      if (fence?.[1]) {
        open = { char: fence[1][0] ?? '`', length: fence[1].length, lines: [] };
        blocks.push(open.lines);
      }
      inFence.push(open !== undefined);
      continue;
    }
    inFence.push(true);
    // CommonMark: a closing fence uses the opening character, at least as many times, and nothing after it.
    const closes = fence?.[1] && fence[1][0] === open.char && fence[1].length >= open.length && line.trim() === fence[1];
    if (closes) open = undefined;
    else open.lines.push(line);
  }
  return { inFence, blocks };
}

/** Rendered text of inline markdown, as GitHub slugs it: link text without its URL, no tags, no backticks. */
function inlineText(markdown: string): string {
  return markdown
    .replace(/!\[[^\]]*\]\([^)]*\)/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/`/g, '');
}

/** GitHub's anchor for a heading (github-slugger): lowercase, punctuation but '-' and '_' removed, each space a '-'. */
function githubSlug(heading: string): string {
  return inlineText(heading)
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/**
 * Every anchor a markdown file defines: its ATX headings, with GitHub's -1, -2... suffixes for repeats,
 * and explicit <a id|name="...">. Setext headings (underlined with === or ---) are not read: the docs
 * do not use them, and a link to one would be reported, never passed by mistake.
 */
function headingAnchors(markdown: string): Set<string> {
  const { inFence } = fencedCode(markdown);
  const anchors = new Set<string>();
  // github-slugger's bookkeeping: a count per slug handed out, so a later "A-1" heading becomes a-1-1.
  const occurrences = new Map<string, number>();
  markdown.split('\n').forEach((line, index) => {
    if (inFence[index]) return;
    for (const html of line.matchAll(/<a\s[^>]*\b(?:id|name)="([^"]+)"/g)) if (html[1]) anchors.add(html[1]);
    const heading = /^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (!heading) return;
    const base = githubSlug(heading[1] ?? '');
    let slug = base;
    while (occurrences.has(slug)) {
      const count = (occurrences.get(base) ?? 0) + 1;
      occurrences.set(base, count);
      slug = `${base}-${count}`;
    }
    occurrences.set(slug, 0);
    anchors.add(slug);
  });
  return anchors;
}

/** [start, end) of each inline code span of a line, so that a link written inside one is not taken for a link. */
function codeSpans(line: string): [number, number][] {
  const spans: [number, number][] = [];
  let at = 0;
  while (at < line.length) {
    const open = line.indexOf('`', at);
    if (open < 0) break;
    let length = 1;
    while (line[open + length] === '`') length += 1;
    const ticks = '`'.repeat(length);
    let close = line.indexOf(ticks, open + length);
    // A closing run must be exactly as long as the opening one.
    while (close >= 0 && line[close + length] === '`') close = line.indexOf(ticks, close + length + 1);
    if (close < 0) {
      at = open + length;
      continue;
    }
    spans.push([open, close + length]);
    at = close + length;
  }
  return spans;
}

const INLINE_LINK = /!?\[((?:[^[\]]|\[[^[\]]*\])*)\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g;
const REFERENCE_DEFINITION = /^ {0,3}\[([^\]]+)\]:\s*(<[^>]*>|\S+)/;

/** Inline links, images and reference definitions outside fenced code blocks and code spans. */
function markdownLinks(markdown: string): Link[] {
  const { inFence } = fencedCode(markdown);
  const links: Link[] = [];
  markdown.split('\n').forEach((line, index) => {
    if (inFence[index]) return;
    const definition = REFERENCE_DEFINITION.exec(line);
    if (definition?.[1] && definition[2]) {
      links.push({ line: index + 1, text: definition[1], target: definition[2].replace(/^<|>$/g, '') });
      return;
    }
    const spans = codeSpans(line);
    for (const match of line.matchAll(INLINE_LINK)) {
      const start = match.index ?? 0;
      if (spans.some(([from, to]) => start >= from && start < to)) continue;
      links.push({ line: index + 1, text: match[1] ?? '', target: (match[2] ?? '').replace(/^<|>$/g, '') });
    }
  });
  return links;
}

/** A URI scheme (http:, https:, mailto:...) or a protocol-relative URL: not a file of this repository. */
const EXTERNAL = /^([a-z][a-z0-9+.-]*:|\/\/)/i;
/** Link text that is one identifier in a code span, as in [`FeaturizeProps`](../src/spark/application.ts). */
const SYMBOL_TEXT = /^`([A-Za-z_$][\w$]*)(?:\(\))?`$/;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Every broken relative link or anchor in the given markdown files, one message each, naming the
 * file and line, the link, and what is missing. A link whose text is a symbol in a code span must
 * point at a file that mentions that symbol, so that a link to "the typed source" stays true.
 */
function checkLinks(files: ReadonlyMap<string, string>, repo: Repo): string[] {
  const problems: string[] = [];
  const textOf = (path: string) => files.get(path) ?? repo.read(path);
  for (const [file, markdown] of files) {
    for (const link of markdownLinks(markdown)) {
      const where = `${file}:${link.line}: [${link.text}](${link.target})`;
      if (EXTERNAL.test(link.target)) continue;
      const hash = link.target.indexOf('#');
      const rawPath = (hash < 0 ? link.target : link.target.slice(0, hash)).replace(/\?.*$/, '');
      const rawAnchor = hash < 0 ? undefined : link.target.slice(hash + 1);
      let pathPart: string;
      let anchor: string | undefined;
      try {
        pathPart = decodeURIComponent(rawPath);
        anchor = rawAnchor === undefined ? undefined : decodeURIComponent(rawAnchor);
      } catch {
        problems.push(`${where}: the target is not valid percent-encoding`);
        continue;
      }
      let target = file;
      if (pathPart !== '') {
        // GitHub resolves a leading '/' from the repository root, anything else from the file's folder.
        target = pathPart.startsWith('/') ? posix.normalize(pathPart.slice(1)) : posix.join(posix.dirname(file), pathPart);
        target = target.replace(/\/$/, '') || '.';
        if (target === '..' || target.startsWith('../')) {
          problems.push(`${where}: ${target} is outside the repository`);
          continue;
        }
        if (!repo.exists(target)) {
          problems.push(`${where}: no file or folder ${target}`);
          continue;
        }
      }
      if (anchor !== undefined) {
        if (anchor === '') {
          problems.push(`${where}: the anchor after '#' is empty`);
        } else if (/\.md$/i.test(target)) {
          const text = textOf(target);
          if (text === undefined) problems.push(`${where}: cannot read ${target} to find #${anchor}`);
          else if (!headingAnchors(text).has(anchor)) problems.push(`${where}: ${target} has no heading whose anchor is #${anchor}`);
        } else {
          const lines = /^L(\d+)(?:-L(\d+))?$/.exec(anchor);
          const text = textOf(target);
          const last = lines ? Number(lines[2] ?? lines[1]) : 0;
          if (!lines || text === undefined) problems.push(`${where}: #${anchor} cannot be checked in ${target}: link a heading of a markdown file, or a line as #L<n>`);
          else if (last > text.split('\n').length) problems.push(`${where}: ${target} has no line ${last}`);
        }
      }
      const symbol = SYMBOL_TEXT.exec(link.text)?.[1];
      if (symbol && pathPart !== '' && !/\.md$/i.test(target)) {
        const text = repo.read(target);
        if (text !== undefined && !new RegExp(`(?<![\\w$])${escapeRegExp(symbol)}(?![\\w$])`).test(text)) {
          problems.push(`${where}: ${target} does not mention ${symbol}`);
        }
      }
    }
  }
  return problems;
}

/** Problems with the README's budget and its opening commands. */
function readmeProblems(file: string, markdown: string): string[] {
  const problems: string[] = [];
  const lines = markdown.split('\n').length - (markdown.endsWith('\n') ? 1 : 0);
  if (lines > README_MAX_LINES) problems.push(`${file} has ${lines} lines, more than ${README_MAX_LINES}: move the detail to a page under docs/ and link it`);
  const first = fencedCode(markdown).blocks[0];
  const commands = first?.map((line) => line.trimEnd());
  if (JSON.stringify(commands) !== JSON.stringify(README_COMMANDS)) {
    problems.push(`${file}: the first fenced code block is ${first ? JSON.stringify(commands) : 'missing'}; it must be exactly the lines ${README_COMMANDS.map((c) => `"${c}"`).join(' and ')}`);
  }
  return problems;
}

function markdownUnder(folder: string): string[] {
  if (!existsSync(join(REPO_ROOT, folder))) return [];
  return readdirSync(join(REPO_ROOT, folder), { withFileTypes: true }).flatMap((entry) => {
    const path = posix.join(folder, entry.name);
    if (entry.isDirectory()) return markdownUnder(path);
    return entry.isFile() && entry.name.endsWith('.md') ? [path] : [];
  });
}

const disk: Repo = {
  exists: (path) => existsSync(join(REPO_ROOT, path)),
  read: (path) => {
    const full = join(REPO_ROOT, path);
    return existsSync(full) && statSync(full).isFile() ? readFileSync(full, 'utf8') : undefined;
  },
};

describe('README.md and docs/', () => {
  const paths = ['README.md', ...markdownUnder('docs').sort()];
  const files = new Map(paths.map((path) => [path, readFileSync(join(REPO_ROOT, path), 'utf8')]));

  it('has pages under docs/ to check', () => {
    expect(paths.length, 'no markdown found under docs/').toBeGreaterThan(1);
  });

  it('every relative link, anchor and symbol link resolves', () => {
    expect(checkLinks(files, disk)).toEqual([]);
  });

  it('README.md stays short and opens with npm start and npm test', () => {
    expect(readmeProblems('README.md', files.get('README.md') ?? '')).toEqual([]);
  });
});

describe('the link checker', () => {
  const page = [
    '# Guide',
    '',
    '## Setup',
    '',
    '## Setup',
    '',
    'See [the other page](other.md), [gone](missing.md), [second setup](#setup-1) and [nowhere](#no-such-heading).',
    'Also [a part](other.md#part), [the type](../src/types.ts) and [`Missing`](../src/types.ts).',
    '',
    '```',
    '[in a fence](fenced.md)',
    '```',
    '',
    '`[in a code span](spanned.md)`, [web](https://example.com/x.md) and [mail](mailto:someone@example.com).',
  ].join('\n');
  const files = new Map([
    ['docs/guide.md', page],
    ['docs/other.md', '# Other\n\n## Part two\n'],
  ]);
  const sources = new Map([['src/types.ts', 'export interface Present {}\n']]);
  const repo: Repo = {
    exists: (path) => files.has(path) || sources.has(path) || path === 'docs' || path === 'src',
    read: (path) => files.get(path) ?? sources.get(path),
  };

  it('reports a missing file, a missing anchor and a symbol its file does not define, and nothing else', () => {
    expect(checkLinks(files, repo)).toEqual([
      'docs/guide.md:7: [gone](missing.md): no file or folder docs/missing.md',
      'docs/guide.md:7: [nowhere](#no-such-heading): docs/guide.md has no heading whose anchor is #no-such-heading',
      'docs/guide.md:8: [a part](other.md#part): docs/other.md has no heading whose anchor is #part',
      'docs/guide.md:8: [`Missing`](../src/types.ts): src/types.ts does not mention Missing',
    ]);
  });

  it('slugs headings as GitHub does, with -1, -2 for repeats', () => {
    expect(githubSlug('Scale mode: `orchard bench --scale`')).toBe('scale-mode-orchard-bench---scale');
    expect(githubSlug('Stages: `cdk8s/stages.ts`')).toBe('stages-cdk8sstagests');
    expect(githubSlug('6. Run a job')).toBe('6-run-a-job');
    expect(githubSlug('The dashboard, "orchard: feature extraction"')).toBe('the-dashboard-orchard-feature-extraction');
    expect(githubSlug('snake_case and [a link](x.md)')).toBe('snake_case-and-a-link');
    expect([...headingAnchors('# A\n## A\n```\n# not a heading\n```\n### A ###\n## A-1')]).toEqual(['a', 'a-1', 'a-2', 'a-1-1']);
  });

  it('reports a README over budget, or one that does not open with the two commands', () => {
    const long = ['# x', '', '```', 'npm install', 'npm start', '```', ...Array.from({ length: 200 }, () => 'text')].join('\n');
    expect(readmeProblems('README.md', long)).toEqual([
      'README.md has 206 lines, more than 200: move the detail to a page under docs/ and link it',
      'README.md: the first fenced code block is ["npm install","npm start"]; it must be exactly the lines "npm start" and "npm test"',
    ]);
    expect(readmeProblems('README.md', '# x\n\n```\nnpm start\nnpm test\n```\n')).toEqual([]);
  });
});
