/**
 * The dashboard's files on disk (web/dist): maps a URL path under /dashboard/ to a file
 * inside the folder, never outside it, and knows each file's content type.
 */
import { stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

export const DASHBOARD_PREFIX = '/dashboard';
export const INDEX_FILE = 'index.html';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The file a URL path names, relative to distDir, or undefined when the path is not a plain
 * file name inside it (bad escapes, NUL, `..`, backslashes: all of them end as a 404).
 * `rawPath` is the URL's pathname (still percent-encoded) and starts with DASHBOARD_PREFIX.
 */
export function assetPathFor(distDir: string, rawPath: string): string | undefined {
  let rest = rawPath.slice(DASHBOARD_PREFIX.length);
  if (rest === '' || rest === '/') rest = `/${INDEX_FILE}`;
  let decoded: string;
  try {
    decoded = decodeURIComponent(rest);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').slice(1);
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.'))) return undefined;
  const full = normalize(join(distDir, ...segments));
  // Belt and braces: after normalising, the file must still be inside distDir.
  return full.startsWith(distDir.endsWith(sep) ? distDir : distDir + sep) ? full : undefined;
}

export interface AssetInfo {
  size: number;
  mtimeMs: number;
  etag: string;
}

/** The file's size and validator, or undefined when it is not a regular file. */
export async function assetInfo(file: string): Promise<AssetInfo | undefined> {
  try {
    const s = await stat(file);
    if (!s.isFile()) return undefined;
    return { size: s.size, mtimeMs: s.mtimeMs, etag: `W/"${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}"` };
  } catch {
    return undefined;
  }
}
