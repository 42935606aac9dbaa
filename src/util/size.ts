/**
 * Byte sizes as written in the mesh file: a whole number of bytes, or `<number><unit>` with a
 * binary unit (KiB, MiB, GiB) or a decimal one (KB, MB, GB), e.g. `64MiB`, `1.5GB`, `4096`.
 */
const UNIT_BYTES: Record<string, number> = { '': 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, KB: 1000, MB: 1000 ** 2, GB: 1000 ** 3 };
const SIZE = /^(\d+(?:\.\d+)?)(B|KiB|MiB|GiB|KB|MB|GB)?$/;

/** Bytes (a whole number) for a size, or undefined if it is not one. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const m = SIZE.exec(value.trim());
  if (m === null) return undefined;
  const bytes = Math.floor(Number(m[1]) * (UNIT_BYTES[m[2] ?? ''] as number));
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
