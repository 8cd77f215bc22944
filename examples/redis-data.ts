/**
 * The value types of examples/redis-server.ts's in-memory keyspace, each shaped for the
 * commands that use it: a list is a ring (push and pop at both ends in O(1)), a set keeps an
 * array beside its index (SPOP takes a random member in O(1)), a sorted set keeps its members
 * sorted by (score, member) descending (ZPOPMIN takes from the end). Strings are JS strings with
 * one char per byte (binary-safe), hashes are Maps.
 */

export class List {
  private items: (string | undefined)[] = new Array(8);
  private head = 0;
  size = 0;

  private grow(): void {
    const old = this.items;
    const items: (string | undefined)[] = new Array(old.length * 2);
    for (let i = 0; i < this.size; i++) items[i] = old[(this.head + i) & (old.length - 1)];
    this.items = items;
    this.head = 0;
  }

  pushFront(v: string): void {
    if (this.size === this.items.length) this.grow();
    this.head = (this.head - 1) & (this.items.length - 1);
    this.items[this.head] = v;
    this.size++;
  }

  pushBack(v: string): void {
    if (this.size === this.items.length) this.grow();
    this.items[(this.head + this.size) & (this.items.length - 1)] = v;
    this.size++;
  }

  popFront(): string {
    const v = this.items[this.head]!;
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.size--;
    return v;
  }

  popBack(): string {
    const at = (this.head + this.size - 1) & (this.items.length - 1);
    const v = this.items[at]!;
    this.items[at] = undefined;
    this.size--;
    return v;
  }

  at(i: number): string {
    return this.items[(this.head + i) & (this.items.length - 1)]!;
  }
}

export class RedisSet {
  private index = new Map<string, number>();
  private members: string[] = [];

  get size(): number {
    return this.members.length;
  }

  add(m: string): boolean {
    if (this.index.has(m)) return false;
    this.index.set(m, this.members.length);
    this.members.push(m);
    return true;
  }

  /** Removes and returns a random member (the set must not be empty). */
  popRandom(): string {
    const i = Math.floor(Math.random() * this.members.length);
    const m = this.members[i]!;
    const last = this.members.pop()!;
    if (i < this.members.length) {
      this.members[i] = last;
      this.index.set(last, i);
    }
    this.index.delete(m);
    return m;
  }

  values(): readonly string[] {
    return this.members;
  }
}

export interface ZEntry {
  member: string;
  score: number;
}

/** Sorted set: entries in descending (score, member) order, so the minimum is the last one. */
export class ZSet {
  private scores = new Map<string, number>();
  private entries: ZEntry[] = [];

  get size(): number {
    return this.entries.length;
  }

  score(member: string): number | undefined {
    return this.scores.get(member);
  }

  /** Index of the entry (score, member), or where it would go. */
  private find(score: number, member: string): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const e = this.entries[mid]!;
      // descending: entries before `mid` are greater
      if (e.score > score || (e.score === score && e.member > member)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  set(member: string, score: number): void {
    const old = this.scores.get(member);
    if (old !== undefined) {
      if (old === score) return;
      this.entries.splice(this.find(old, member), 1);
    }
    this.scores.set(member, score);
    this.entries.splice(this.find(score, member), 0, { member, score });
  }

  popMin(): ZEntry {
    const e = this.entries.pop()!;
    this.scores.delete(e.member);
    return e;
  }
}

export type Value = string | List | RedisSet | Map<string, string> | ZSet;

/** Redis 7.0 prints scores with "%.17g". */
export function formatScore(x: number): string {
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Number.isInteger(x) && Math.abs(x) < 1e17) return String(x);
  const exp = Number(x.toExponential(16).split('e')[1]);
  if (exp < -4 || exp >= 17) {
    const [mant, e] = x.toExponential(16).split('e') as [string, string];
    const m = mant.replace(/\.?0+$/, '');
    const sign = e.startsWith('-') ? '-' : '+';
    const digits = e.replace(/^[+-]/, '');
    return `${m}e${sign}${digits.length < 2 ? `0${digits}` : digits}`;
  }
  const fixed = x.toFixed(16 - exp);
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}
