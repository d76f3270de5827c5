/**
 * Invented people and their fake PII. A `Registry` keeps every name and value unique within a dataset, so
 * each QA answer points at exactly one document.
 */
import type { Rng } from "../rng.js";
import {
  EMAIL_DOMAINS,
  FEMALE_FIRST,
  LAST_NAMES,
  MALE_FIRST,
  MONTHS,
  NAME_SYLLABLES,
  STREET_TYPES,
  STREETS,
  US_CITIES,
} from "./words.js";

export class Registry {
  private readonly used = new Set<string>();

  /** Draw from `make` until the value is new; a dataset too large for the word lists throws. */
  unique<T>(kind: string, make: () => T, key: (value: T) => string = String): T {
    for (let attempt = 0; attempt < 1000; attempt++) {
      const value = make();
      const k = `${kind}\u0000${key(value)}`;
      if (!this.used.has(k)) {
        this.used.add(k);
        return value;
      }
    }
    throw new Error(`synthetic data: ran out of distinct ${kind} values`);
  }
}

export interface Pronouns {
  subject: string;
  object: string;
  possessive: string;
}

const SHE: Pronouns = { subject: "she", object: "her", possessive: "her" };
const HE: Pronouns = { subject: "he", object: "him", possessive: "his" };

export interface Person {
  first: string;
  last: string;
  name: string;
  pronouns: Pronouns;
}

export function person(rng: Rng, registry: Registry): Person {
  return registry.unique(
    "person",
    () => {
      const female = rng.below(2) === 0;
      const first = rng.pick(female ? FEMALE_FIRST : MALE_FIRST);
      const last = rng.pick(LAST_NAMES);
      return { first, last, name: `${first} ${last}`, pronouns: female ? SHE : HE };
    },
    (p) => p.name,
  );
}

/** An invented name from syllables, e.g. "Velmira". */
export function inventedName(rng: Rng, registry: Registry): string {
  return registry.unique("invented", () => {
    const parts = rng.int(2, 3);
    let name = "";
    for (let i = 0; i < parts; i++) name += rng.pick(NAME_SYLLABLES);
    return name.charAt(0).toUpperCase() + name.slice(1);
  });
}

export interface CalendarDate {
  year: number;
  month: number;
  day: number;
}

function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

export function date(rng: Rng, fromYear: number, toYear: number): CalendarDate {
  const year = rng.int(fromYear, toYear);
  const month = rng.int(1, 12);
  return { year, month, day: rng.int(1, daysIn(year, month)) };
}

/** `1976-03-29`, the form of Task 2 birthdays and QA answers. */
export function isoDate(d: CalendarDate): string {
  return `${d.year}-${String(d.month).padStart(2, "0")}-${String(d.day).padStart(2, "0")}`;
}

/** `March 29, 1976`. */
export function longDate(d: CalendarDate): string {
  return `${MONTHS[d.month - 1]} ${d.day}, ${d.year}`;
}

function digits(rng: Rng, n: number): string {
  let out = "";
  for (let i = 0; i < n; i++) out += String(rng.below(10));
  return out;
}

/** A NANP-shaped phone number as 10 digits (area and exchange codes never start with 0 or 1). */
export function phoneDigits(rng: Rng, registry: Registry): string {
  return registry.unique(
    "phone",
    () => `${rng.int(2, 9)}${digits(rng, 2)}${rng.int(2, 9)}${digits(rng, 2)}${digits(rng, 4)}`,
  );
}

/** An SSN-shaped number as 9 digits, always in the 900 area, which is never issued (as in the public data). */
export function ssnDigits(rng: Rng, registry: Registry): string {
  return registry.unique(
    "ssn",
    () => `900${String(rng.int(1, 99)).padStart(2, "0")}${String(rng.int(1, 9999)).padStart(4, "0")}`,
  );
}

/** `first_last@domain`, the shape of the public data's addresses. */
export function email(rng: Rng, registry: Registry, who: Person): string {
  return registry.unique(
    "email",
    () => `${who.first.toLowerCase()}_${who.last.toLowerCase()}@${rng.pick(EMAIL_DOMAINS)}`,
  );
}

/** `1011 Maple Street, #12, Springfield, IL, 62704` (the unit is optional). */
export function address(rng: Rng, registry: Registry): string {
  return registry.unique("address", () => {
    const [city, state, zip] = rng.pick(US_CITIES);
    const unit = rng.below(4) === 0 ? `#${rng.int(1, 320)}, ` : "";
    return `${rng.int(10, 9899)} ${rng.pick(STREETS)} ${rng.pick(STREET_TYPES)}, ${unit}${city}, ${state}, ${zip}${digits(rng, 2)}`;
  });
}

/** A version-4-shaped UUID from the seeded stream. */
export function uuid(rng: Rng, registry: Registry): string {
  return registry.unique("uuid", () => {
    const h = rng.hex(32);
    const variant = "89ab"[rng.below(4)] as string;
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  });
}

/** A 6- to 8-digit numeric document id, like Task 3's `67148749` and `6608674`. */
export function numericId(rng: Rng, registry: Registry): string {
  return registry.unique("numeric-id", () => String(rng.int(100_000, 99_999_999)));
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
