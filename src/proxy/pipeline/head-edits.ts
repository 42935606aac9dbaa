import type { CompiledHeaderModifier } from '../routing/types.js';

/**
 * Changes to a head that the stages decide and the codec applies when it writes the head, so
 * a head is serialized once whatever the number of stages that touched it (and not at all
 * when none did: the codec then forwards it as received).
 *
 * For a received field `name`: dropped when `remove` or `set` names it; then `set` fields, then
 * `add` fields are appended. `authority` replaces the Host (HTTP/1) or :authority (HTTP/2);
 * `target` replaces the request target (path and query). Names are lower case.
 */
export class HeadEdits {
  target: string | undefined = undefined;
  authority: string | undefined = undefined;
  /** Lower-case names (a few at most: an array beats a Set here and allocates less). */
  remove: string[] | null = null;
  /** Flat [name, value, ...]: each replaces every received field of its name. */
  set: string[] | null = null;
  /** Flat [name, value, ...]: appended. */
  add: string[] | null = null;
  /**
   * Shared by many exchanges (a listener's fixed edits): never changed in place; an exchange
   * that edits more gets its own copy first (Exchange.editRequest / editResponse).
   */
  shared = false;

  /** Edits shared by every exchange that uses them (frozen; see `shared`). */
  static sharedOf(build: (e: HeadEdits) => void): HeadEdits {
    const e = new HeadEdits();
    build(e);
    e.shared = true;
    return Object.freeze(e);
  }

  /** Whether a received field called `name` is left out. */
  drops(name: string): boolean {
    const remove = this.remove;
    if (remove !== null) for (let i = 0; i < remove.length; i++) if (remove[i] === name) return true;
    const set = this.set;
    if (set !== null) for (let i = 0; i < set.length; i += 2) if (set[i] === name) return true;
    return false;
  }

  removeField(name: string): void {
    const remove = (this.remove ??= []);
    if (!remove.includes(name)) remove.push(name);
  }

  setField(name: string, value: string): void {
    const set = (this.set ??= []);
    for (let i = 0; i < set.length; i += 2) {
      if (set[i] === name) {
        set[i + 1] = value;
        return;
      }
    }
    set.push(name, value);
  }

  addField(name: string, value: string): void {
    (this.add ??= []).push(name, value);
  }

  /**
   * A Gateway API header modifier (RequestHeaderModifier / ResponseHeaderModifier). `host` is
   * the authority: set or added, it replaces it; removed, it is kept (a request always carries
   * exactly one Host; two would make the upstream refuse it or pick another than we logged).
   */
  applyModifier(mod: CompiledHeaderModifier, isRequest: boolean): void {
    for (const name of mod.remove) if (!(isRequest && name === 'host')) this.removeField(name);
    for (const [name, value] of mod.set) {
      if (isRequest && name === 'host') this.authority = value;
      else this.setField(name, value);
    }
    for (const [name, value] of mod.add) {
      if (isRequest && name === 'host') this.authority = value;
      else this.addField(name, value);
    }
  }

  /** Appends flat [name, value, ...] fields. */
  addFields(fields: readonly string[]): void {
    for (let i = 0; i + 1 < fields.length; i += 2) this.addField(fields[i] as string, fields[i + 1] as string);
  }

  /** A copy that may be changed (mirrors edit their own; exchanges copy shared edits). */
  clone(): HeadEdits {
    const c = new HeadEdits();
    c.target = this.target;
    c.authority = this.authority;
    if (this.remove !== null) c.remove = this.remove.slice();
    if (this.set !== null) c.set = this.set.slice();
    if (this.add !== null) c.add = this.add.slice();
    return c;
  }
}
