/**
 * The official script writes generations and gold outputs to CSV and reads them back with pandas
 * before scoring, then scores `str(value)`. `read_csv` turns these exact field values (pandas 2.x
 * defaults) into NaN, and `str(NaN)` is "nan". An empty generation therefore scores as the word "nan".
 */
const PANDAS_NA_STRINGS: ReadonlySet<string> = new Set([
  "",
  "#N/A",
  "#N/A N/A",
  "#NA",
  "-1.#IND",
  "-1.#QNAN",
  "-NaN",
  "-nan",
  "1.#IND",
  "1.#QNAN",
  "<NA>",
  "N/A",
  "NA",
  "NULL",
  "NaN",
  "None",
  "n/a",
  "nan",
  "null",
]);

/** What `str(pd.read_csv(...)[col][i])` gives back for a string field written by `to_csv`. */
export function pandasCsvRoundTrip(value: string): string {
  return PANDAS_NA_STRINGS.has(value) ? "nan" : value;
}
