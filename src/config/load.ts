import { readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { TrellisError } from '../errors.js';
import { checkIngressTls } from './ingress-tls.js';
import { ConfigError, type ConfigIssue } from './issues.js';
import { normalize } from './normalize.js';
import { checkRules } from './rules.js';
import { meshFileSchema } from './schema.js';
import type { MeshConfig } from './types.js';

export const MESH_FILE_NAME = 'trellis.yaml';

export { ConfigError, formatIssue, type ConfigIssue } from './issues.js';

/** `dir` -> `dir/trellis.yaml`; a file path stays as it is. */
export async function resolveMeshPath(target: string): Promise<string> {
  const abs = resolve(target);
  try {
    const s = await stat(abs);
    return s.isDirectory() ? join(abs, MESH_FILE_NAME) : abs;
  } catch {
    return abs;
  }
}

/** Reads, validates and normalises a mesh file (a file or a folder holding trellis.yaml). */
export async function loadMeshFile(path: string): Promise<MeshConfig> {
  const file = await resolveMeshPath(path);
  const shown = displayPath(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err);
    throw new TrellisError('TRELLIS_E_CONFIG', `cannot read mesh file: ${why}`, { where: shown, cause: err });
  }
  return parseMeshText(text, file, shown);
}

/** Parses mesh-file text; `shown` is the file name used in messages. */
export function parseMeshText(text: string, file: string, shown: string = file, opts: { now?: () => number } = {}): MeshConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): { line: number; col: number } => lines.linePos(offset);

  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const { line, col } = at(e.pos[0]);
        return { file: shown, line, col, path: '', message: `YAML: ${e.message.split('\n')[0] ?? e.message}` };
      }),
    );
  }

  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  const parsed = meshFileSchema.safeParse(data, { error: messageFor });
  const issueAt = (path: PropertyKey[], message: string, key?: string): ConfigIssue => {
    const offset = locate(doc, path, key);
    const { line, col } = at(offset);
    return { file: shown, line, col, path: formatPath(key !== undefined ? [...path, key] : path), message };
  };
  if (!parsed.success) {
    const issues: ConfigIssue[] = [];
    for (const iss of parsed.error.issues) {
      if (iss.code === 'unrecognized_keys') {
        for (const k of iss.keys) issues.push(issueAt(iss.path, 'unknown field', k));
      } else {
        issues.push(issueAt(iss.path, iss.message));
      }
    }
    throw new ConfigError(sortIssues(issues));
  }
  // Files the mesh file names (ingress TLS) are checked once the fields themselves are sound.
  const ruleIssues = checkRules(parsed.data);
  if (ruleIssues.length === 0) ruleIssues.push(...checkIngressTls(parsed.data, dirname(file), (opts.now ?? Date.now)()));
  if (ruleIssues.length > 0) throw new ConfigError(sortIssues(ruleIssues.map((i) => issueAt(i.path, i.message))));
  return normalize(parsed.data, file, dirname(file));
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => a.line - b.line || a.col - b.col);
}

/** Relative to the working directory when that is shorter, as users typed it. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/** `['spec','workloads',1,'name']` -> `spec.workloads[1].name` */
export function formatPath(path: PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/**
 * Source offset for a zod path: the node at the path, or for a missing field the nearest
 * ancestor that exists. With `key`, the key node of that entry in the map at `path`.
 */
export function locate(doc: Document, path: PropertyKey[], key?: string): number {
  if (key !== undefined) {
    const map = doc.getIn(path as unknown[], true);
    if (isMap(map)) {
      for (const pair of map.items) {
        if (isPair(pair) && isScalar(pair.key) && String(pair.key.value) === key && pair.key.range) return pair.key.range[0];
      }
    }
  }
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : (doc.getIn(path.slice(0, n) as unknown[], true) as Node | undefined);
    if (node === undefined || node === null) continue;
    if ((isScalar(node) || isMap(node) || isSeq(node)) && node.range) return node.range[0];
  }
  return 0;
}

/** Shorter messages than zod's defaults, in the words of the mesh-file doc. */
export function messageFor(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'required';
      return `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${describeInput(iss.input)}`;
    case 'invalid_value':
      return iss.values.length === 1 ? `expected ${String(iss.values[0])}` : `expected one of ${iss.values.map(String).join(', ')}`;
    case 'too_small':
      if (iss.origin === 'array') return `expected at least ${String(iss.minimum)} item(s)`;
      return `must be at least ${String(iss.minimum)}`;
    case 'too_big':
      if (iss.origin === 'array') return `expected at most ${String(iss.maximum)} item(s)`;
      return `must be at most ${String(iss.maximum)}`;
    default:
      return undefined;
  }
}

const EXPECTED: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', number: 'a number', int: 'an integer' };

function describeInput(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}
