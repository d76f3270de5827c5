/**
 * Byte-pair-encoding training (Sennrich et al. 2016; GPT-2's byte-level variant), on a table of words and
 * their frequencies.
 *
 * Start from an alphabet of symbols (one per byte) and every word spelled in it. Repeatedly find the adjacent
 * pair of symbols with the highest count (summed over words, weighted by word frequency), add the
 * concatenation as a new symbol, and rewrite every occurrence of the pair, left to right, without overlap.
 * Merges never cross word boundaries. Ties go to the pair whose left symbol has the smaller id, then the
 * smaller right id, which is the order Hugging Face's `BpeTrainer` uses. Counting is incremental: each merge
 * only recounts the words that contain the merged pair (an index from pair to words), and the best pair comes
 * from a max-heap whose stale entries are refreshed when they reach the top.
 */

export interface BpeTrainingInput {
  /** Initial vocabulary, in id order (special tokens, then the alphabet). */
  initialVocab: readonly string[];
  /** Each distinct word as a sequence of initial-vocabulary ids, with how often it occurs. */
  words: ReadonlyArray<{ symbols: readonly number[]; count: number }>;
  /** Stop when the vocabulary has this many entries. */
  vocabSize: number;
  /** Stop when the best pair occurs fewer times than this. */
  minFrequency: number;
}

export interface BpeTrainingResult {
  /** Token strings by id. */
  vocab: string[];
  /** Merges in rank order, as [left, right] token strings. */
  merges: Array<[string, string]>;
}

/** Pairs are keyed by one number; ids stay below 2^21 so the key is an exact integer. */
const KEY_BASE = 2 ** 21;
const pairKey = (a: number, b: number) => a * KEY_BASE + b;

interface HeapEntry {
  count: number;
  a: number;
  b: number;
}

/** Higher count first; among equal counts the smaller (left id, right id). */
function before(x: HeapEntry, y: HeapEntry): boolean {
  if (x.count !== y.count) return x.count > y.count;
  if (x.a !== y.a) return x.a < y.a;
  return x.b < y.b;
}

class PairHeap {
  private readonly items: HeapEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  push(entry: HeapEntry): void {
    const items = this.items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): HeapEntry | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < items.length && before(items[l]!, items[best]!)) best = l;
        if (r < items.length && before(items[r]!, items[best]!)) best = r;
        if (best === i) break;
        [items[i], items[best]] = [items[best]!, items[i]!];
        i = best;
      }
    }
    return top;
  }
}

export function trainBpe(input: BpeTrainingInput): BpeTrainingResult {
  const vocab = [...input.initialVocab];
  const idOf = new Map(vocab.map((token, id) => [token, id]));
  if (input.vocabSize >= KEY_BASE)
    throw new Error(`vocabSize ${input.vocabSize} is too large (max ${KEY_BASE - 1})`);

  const words = input.words.map((w) => [...w.symbols]);
  const freq = input.words.map((w) => w.count);
  const pairCount = new Map<number, number>();
  const wordsWithPair = new Map<number, Set<number>>();

  /** Add (or remove) word w's pairs to the counts; with `grown`, index and collect the pairs holding `z`. */
  const addPairs = (w: number, sign: 1 | -1, z?: number, grown?: Set<number>) => {
    const symbols = words[w]!;
    const delta = sign * freq[w]!;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const a = symbols[i]!;
      const b = symbols[i + 1]!;
      const key = pairKey(a, b);
      const next = (pairCount.get(key) ?? 0) + delta;
      if (next === 0) pairCount.delete(key);
      else pairCount.set(key, next);
      if (sign === 1 && (z === undefined || a === z || b === z)) {
        let set = wordsWithPair.get(key);
        if (!set) {
          set = new Set();
          wordsWithPair.set(key, set);
        }
        set.add(w);
        grown?.add(key);
      }
    }
  };

  for (let w = 0; w < words.length; w++) addPairs(w, 1);
  const heap = new PairHeap();
  for (const [key, count] of pairCount)
    heap.push({ count, a: Math.floor(key / KEY_BASE), b: key % KEY_BASE });

  const merges: Array<[string, string]> = [];
  while (vocab.length < input.vocabSize) {
    const best = popBest(heap, pairCount);
    if (!best || best.count < input.minFrequency) break;
    const { a, b } = best;
    const merged = vocab[a]! + vocab[b]!;
    let z = idOf.get(merged);
    if (z === undefined) {
      z = vocab.length;
      vocab.push(merged);
      idOf.set(merged, z);
    }
    merges.push([vocab[a]!, vocab[b]!]);

    const key = pairKey(a, b);
    // Only pairs that contain the new symbol can have grown; each gets a heap entry with its new count.
    const grown = new Set<number>();
    for (const w of wordsWithPair.get(key) ?? []) {
      const symbols = words[w]!;
      if (!containsPair(symbols, a, b)) continue;
      addPairs(w, -1);
      words[w] = mergePair(symbols, a, b, z);
      addPairs(w, 1, z, grown);
    }
    wordsWithPair.delete(key);
    for (const k of grown) {
      const count = pairCount.get(k);
      if (count) heap.push({ count, a: Math.floor(k / KEY_BASE), b: k % KEY_BASE });
    }
  }
  return { vocab, merges };
}

/** The top of the heap once its count is current; stale entries are re-pushed with their current count. */
function popBest(heap: PairHeap, pairCount: Map<number, number>): HeapEntry | undefined {
  for (;;) {
    const top = heap.pop();
    if (!top) return undefined;
    const current = pairCount.get(pairKey(top.a, top.b)) ?? 0;
    if (current === top.count) return top;
    if (current > 0) heap.push({ count: current, a: top.a, b: top.b });
  }
}

function containsPair(symbols: readonly number[], a: number, b: number): boolean {
  for (let i = 0; i + 1 < symbols.length; i++) if (symbols[i] === a && symbols[i + 1] === b) return true;
  return false;
}

/** Replace each non-overlapping occurrence of (a, b), scanning left to right, with z. */
export function mergePair(symbols: readonly number[], a: number, b: number, z: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
      out.push(z);
      i++;
    } else {
      out.push(symbols[i]!);
    }
  }
  return out;
}
