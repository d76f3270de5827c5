/**
 * Exact arithmetic on doubles, for reproducing Python's `statistics` module bit for bit: it sums floats
 * as exact fractions and rounds once at the end. Every finite double is an integer multiple of 2^-1074,
 * so a sum of doubles is held exactly as a BigInt count of 2^-1074 units.
 */

const UNIT_BITS = 1074n;
const view = new DataView(new ArrayBuffer(8));

/** x · 2^1074 as a BigInt (exact). `x` must be finite. */
export function toUnits(x: number): bigint {
  if (!Number.isFinite(x)) throw new RangeError(`toUnits: ${x} is not finite`);
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const negative = hi >>> 31 === 1;
  const exponent = (hi >>> 20) & 0x7ff;
  const fraction = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  // Subnormal: fraction · 2^-1074. Normal: (2^52 + fraction) · 2^(exponent - 1075).
  const units = exponent === 0 ? fraction : ((1n << 52n) | fraction) << BigInt(exponent - 1);
  return negative ? -units : units;
}

/** Exact sum of finite doubles, in 2^-1074 units. */
export function sumUnits(values: Iterable<number>): bigint {
  let total = 0n;
  for (const x of values) total += toUnits(x);
  return total;
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** x · 2^e without intermediate overflow or underflow (exact whenever the result is representable). */
function scaleByPowerOfTwo(x: number, e: number): number {
  let result = x;
  let rest = e;
  while (rest > 1000) {
    result *= 2 ** 1000;
    rest -= 1000;
  }
  while (rest < -1000) {
    result *= 2 ** -1000;
    rest += 1000;
  }
  return result * 2 ** rest;
}

/** num / den rounded once to the nearest double, ties to even (what Python's int/int and float(Fraction) do). */
export function ratioToDouble(num: bigint, den: bigint): number {
  if (den === 0n) throw new RangeError("ratioToDouble: division by zero");
  if (num === 0n) return 0;
  const negative = num < 0n !== den < 0n;
  const n = num < 0n ? -num : num;
  const d = den < 0n ? -den : den;
  // e with 2^e <= n/d < 2^(e+1).
  let e = bitLength(n) - bitLength(d);
  if (e >= 0 ? n < d << BigInt(e) : n << BigInt(-e) < d) e -= 1;
  if (e > 1023) return negative ? -Infinity : Infinity;
  if (e < -1075) return negative ? -0 : 0;
  // Significant bits available at this magnitude: 53 for normal numbers, fewer for subnormal ones.
  const precision = e >= -1022 ? 53 : 53 - (-1022 - e);
  const shift = precision - 1 - e; // q = n/d · 2^shift has `precision` integer bits
  const scaledNum = shift >= 0 ? n << BigInt(shift) : n;
  const scaledDen = shift >= 0 ? d : d << BigInt(-shift);
  let q = scaledNum / scaledDen;
  const twiceRemainder = (scaledNum % scaledDen) * 2n;
  if (twiceRemainder > scaledDen || (twiceRemainder === scaledDen && (q & 1n) === 1n)) q += 1n;
  const magnitude = scaleByPowerOfTwo(Number(q), -shift);
  return negative ? -magnitude : magnitude;
}

/** An exact unit sum divided by an integer count, rounded once. */
export function unitsOverCount(units: bigint, count: number): number {
  return ratioToDouble(units, BigInt(count) << UNIT_BITS);
}

/** An integer count divided by an exact unit sum, rounded once. */
export function countOverUnits(count: number, units: bigint): number {
  return ratioToDouble(BigInt(count) << UNIT_BITS, units);
}
