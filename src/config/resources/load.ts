import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import type { Resource } from '../../api/resources.js';
import { TrellisError } from '../../errors.js';
import { ConfigError, type ConfigIssue } from '../issues.js';
import { displayPath, locate } from '../load.js';
import { problemPath, validateResource } from './validate.js';

/** A validated resource and the place its document starts (for messages about it later). */
export interface LoadedResource {
  resource: Resource;
  file: string;
  line: number;
  col: number;
}

/** `<kind>/<name>: <field path>` as the issue path, so formatIssue prints `file:line:col: HTTPRoute/web: spec...: reason`. */
function issuePath(kind: string, name: string, path: string): string {
  return path === '' ? `${kind}/${name}` : `${kind}/${name}: ${path}`;
}

/**
 * Parses a multi-document YAML text of resources. Every document is validated; all problems
 * of all documents are collected and thrown together as one ConfigError (all-or-nothing).
 */
export function parseResourcesText(text: string, shown: string): LoadedResource[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [];
  const out: LoadedResource[] = [];
  const seen = new Map<string, string>();
  if (!Array.isArray(docs)) {
    // An empty stream (only comments or nothing at all).
    return [];
  }
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const { line, col } = lines.linePos(e.pos[0]);
        issues.push({ file: shown, line, col, path: '', message: `YAML: ${e.message.split('\n')[0] ?? e.message}` });
      }
      continue;
    }
    const data: unknown = doc.toJS({ maxAliasCount: 100 });
    if (doc.contents === null || data === null || data === undefined) continue; // `---` with nothing after it
    const start = lines.linePos(doc.contents.range?.[0] ?? 0);
    const v = validateResource(data);
    if (!v.ok) {
      for (const p of v.problems) {
        const { line, col } = lines.linePos(locate(doc, p.path, p.key));
        issues.push({ file: shown, line, col, path: issuePath(v.kind, v.name, problemPath(p)), message: p.message });
      }
      continue;
    }
    const r = v.resource;
    const key = `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      issues.push({ file: shown, line: start.line, col: start.col, path: issuePath(r.kind, r.metadata.name, ''), message: `defined twice (first at ${first})` });
      continue;
    }
    seen.set(key, `${shown}:${start.line}`);
    out.push({ resource: r, file: shown, line: start.line, col: start.col });
  }
  if (issues.length > 0) throw new ConfigError([...issues].sort((a, b) => a.line - b.line || a.col - b.col));
  return out;
}

/**
 * Loads resources from a file, every `*.yaml`/`*.yml` in a folder (sorted, not recursive),
 * or `-` (then `stdin` gives the text). Problems of every file are reported together.
 */
export async function loadResources(target: string, cwd: string, stdin?: () => Promise<string>): Promise<LoadedResource[]> {
  if (target === '-') {
    if (stdin === undefined) throw new TrellisError('TRELLIS_E_USAGE', 'no standard input to read resources from');
    return parseResourcesText(await stdin(), '<stdin>');
  }
  const abs = resolve(cwd, target);
  let files: string[];
  try {
    const s = await stat(abs);
    files = s.isDirectory() ? (await readdir(abs)).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(abs, f)) : [abs];
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TrellisError('TRELLIS_E_CONFIG', `cannot read resources: ${code === 'ENOENT' ? 'no such file or directory' : String(err)}`, { where: displayPath(abs), cause: err });
  }
  const out: LoadedResource[] = [];
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, LoadedResource>();
  for (const f of files) {
    const shown = displayPath(f);
    let list: LoadedResource[];
    try {
      list = parseResourcesText(await readFile(f, 'utf8'), shown);
    } catch (err) {
      if (err instanceof ConfigError) {
        issues.push(...err.issues);
        continue;
      }
      throw err;
    }
    for (const l of list) {
      const key = `${l.resource.kind}/${l.resource.metadata.namespace}/${l.resource.metadata.name}`;
      const first = seen.get(key);
      if (first !== undefined) {
        issues.push({ file: l.file, line: l.line, col: l.col, path: `${l.resource.kind}/${l.resource.metadata.name}`, message: `defined twice (first at ${first.file}:${first.line})` });
      } else {
        seen.set(key, l);
        out.push(l);
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return out;
}
