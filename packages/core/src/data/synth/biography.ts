/**
 * Task 3: encyclopedia-style biographies of invented people (the real Task 3 uses Wikipedia biographies):
 * birth, education, career, best-known work, an award and a closing line. One QA row about one fact,
 * with a short answer (a year, a city, a title).
 */
import type { Rng } from "../rng.js";
import { cutNear, fill, type QuestionAnswer, type SynthDocument } from "./document.js";
import { capitalize, date, longDate, numericId, person, type Registry } from "./people.js";
import {
  AWARD_KINDS,
  INSTITUTION_KINDS,
  LAST_NAMES,
  NATIONS,
  PROFESSIONS,
  WORK_ADJECTIVES,
  WORK_NOUNS,
} from "./words.js";

const LEADS = [
  "{name} ({born} – {died}) was {a_nation} {profession} known for {known_for}.",
  "{name} (born {born}) is {a_nation} {profession} best known for {known_for}.",
];

const EDUCATION = [
  "Born in {birthplace}, {they} studied {field} at the University of {university_city}, graduating in {grad_year}.",
  "{they_cap} grew up in {birthplace} and earned a degree in {field} from the University of {university_city} in {grad_year}.",
];

const CAREER = [
  "In {join_year} {they} joined the {institution}, where {they} later led a research group.",
  "{they_cap} spent most of {their} career at the {institution}, which {they} joined in {join_year}.",
];

const WORK = [
  "{their_cap} best-known work, {work}, appeared in {work_year}.",
  "{they_cap} published {work} in {work_year}, and it is still widely cited.",
];

const AWARD = [
  "In {award_year}, {they} received the {award}.",
  "The {award} was awarded to {them} in {award_year}.",
];

const CLOSINGS_DEAD = ["{they_cap} died in {death_place} in {death_year}."];
const CLOSINGS_ALIVE = [
  "{they_cap} lives in {death_place}.",
  "{they_cap} currently divides {their} time between {birthplace} and {death_place}.",
];

export function biography(rng: Rng, registry: Registry): SynthDocument {
  const id = numericId(rng, registry);
  const who = person(rng, registry);
  const [nation, cities] = rng.pick(NATIONS);
  const [profession, field, knownFor] = rng.pick(PROFESSIONS);
  const dead = rng.below(2) === 0;
  // Every event stays before 2023: born 1890-1930 (dead, at most 35 years after the award) or 1935-1965.
  const born = dead ? date(rng, 1890, 1930) : date(rng, 1935, 1965);
  const gradYear = born.year + rng.int(21, 26);
  const joinYear = gradYear + rng.int(1, 6);
  const workYear = joinYear + rng.int(2, 15);
  const awardYear = workYear + rng.int(1, 10);
  const deathYear = awardYear + rng.int(3, 35);
  const birthplace = rng.pick(cities);
  const surname = rng.pick(LAST_NAMES);
  const fieldTitle = field.split(" ").map(capitalize).join(" ");
  const slots = { city: rng.pick(cities), field: fieldTitle, surname };
  const work = registry.unique("work", () => `The ${rng.pick(WORK_ADJECTIVES)} ${rng.pick(WORK_NOUNS)}`);
  const p = who.pronouns;
  const values = {
    name: who.name,
    born: longDate(born),
    died: longDate({ year: deathYear, month: rng.int(1, 12), day: rng.int(1, 28) }),
    a_nation: `${/^[AEIOU]/.test(nation) ? "an" : "a"} ${nation}`,
    profession,
    known_for: knownFor,
    birthplace,
    field,
    university_city: rng.pick(cities),
    grad_year: String(gradYear),
    join_year: String(joinYear),
    institution: fill(rng.pick(INSTITUTION_KINDS), slots),
    work,
    work_year: String(workYear),
    award: fill(rng.pick(AWARD_KINDS), slots),
    award_year: String(awardYear),
    death_place: rng.pick(cities),
    death_year: String(deathYear),
    they: p.subject,
    they_cap: capitalize(p.subject),
    them: p.object,
    their: p.possessive,
    their_cap: capitalize(p.possessive),
  };
  const lead = dead ? LEADS[0] : LEADS[1];
  // Like the public Task3 text (Wikipedia), the document opens with the title line.
  const text = `${who.name}\n\n${[
    fill(lead as string, values),
    fill(rng.pick(EDUCATION), values),
    fill(rng.pick(CAREER), values),
    fill(rng.pick(WORK), values),
    fill(rng.pick(AWARD), values),
    fill(rng.pick(dead ? CLOSINGS_DEAD : CLOSINGS_ALIVE), values),
  ].join(" ")}`;
  const questions: QuestionAnswer[] = [
    { question: `In which year was ${who.name} born?`, answer: String(born.year) },
    { question: `In which city was ${who.name} born?`, answer: birthplace },
    { question: `What is the title of ${who.name}'s best-known work?`, answer: work },
    { question: `Which award did ${who.name} receive in ${awardYear}?`, answer: values.award },
    { question: `In which year did ${who.name} join the ${values.institution}?`, answer: String(joinYear) },
  ];
  return { id, task: "Task3", text, cut: cutNear(rng, text, 0.8), questions: [rng.pick(questions)] };
}
