import { pandasCsvRoundTrip } from "../scores/pandas-csv.js";

/**
 * open-instruct reads each MMLU CSV with `pd.read_csv(header=None)` and formats cells with
 * `"{}".format(cell)`, so a column's text is what pandas' type inference makes of it, per file:
 * - all cells integers → int64: "007" is written "7";
 * - all cells numbers (or integers with missing cells) → float64: "0.50" is written "0.5", "5" "5.0";
 * - all cells True/False spellings → bool: "true" is written "True";
 * - otherwise strings, with pandas' NA spellings ("None", "NA", "", ...) written "nan".
 */
export function pandasColumnText(cells: readonly string[]): string[] {
  const present = cells.filter((c) => pandasCsvRoundTrip(c) !== "nan");
  const missing = present.length < cells.length;
  if (present.length > 0 && !missing && present.every((c) => INTEGER.test(c))) {
    return cells.map((c) => BigInt(c.trim()).toString());
  }
  if (present.every((c) => FLOAT.test(c))) {
    return cells.map((c) => (pandasCsvRoundTrip(c) === "nan" ? "nan" : pythonFloatRepr(Number(c.trim()))));
  }
  if (!missing && present.every((c) => BOOLEAN.has(c))) {
    return cells.map((c) => (TRUE_SPELLINGS.has(c) ? "True" : "False"));
  }
  return cells.map(pandasCsvRoundTrip);
}

const INTEGER = /^\s*[+-]?[0-9]+\s*$/;
const FLOAT = /^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$/;
const TRUE_SPELLINGS = new Set(["True", "TRUE", "true"]);
const BOOLEAN = new Set([...TRUE_SPELLINGS, "False", "FALSE", "false"]);

/** Python's `repr(float)`: shortest round-trip digits, fixed notation for exponents in [-4, 16), else "1e+16". */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mantissa, exponentText] = Math.abs(x).toExponential().split("e") as [string, string];
  const digits = mantissa.replace(".", "");
  const exponent = Number(exponentText);
  const sign = x < 0 ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
    const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
    const fraction = digits.slice(exponent + 1);
    return `${sign}${whole}.${fraction === "" ? "0" : fraction}`;
  }
  const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const exp = `${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  return `${sign}${head}e${exp}`;
}
