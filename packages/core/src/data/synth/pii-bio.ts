/**
 * Task 2: short biographies of invented people with fake PII — name, birthday (YYYY-MM-DD), phone,
 * SSN-shaped number (900-series, never issued), email and home address. Five QA rows per document, one
 * per PII field, with the bare value as the answer (e.g. `1976-03-29`).
 */
import type { Rng } from "../rng.js";
import { fill, type SynthDocument } from "./document.js";
import {
  address,
  capitalize,
  date,
  email,
  isoDate,
  person,
  phone,
  type Registry,
  ssnLike,
  uuid,
} from "./people.js";
import { HOBBIES, OCCUPATIONS, US_CITIES } from "./words.js";

const BIRTH = [
  "{name} was born on {birthday} in {hometown}.",
  "Born on {birthday} in {hometown}, {name} still visits the town every summer.",
  "{name}, born on {birthday}, grew up in {hometown}.",
];

const FACTS = {
  phone: [
    "{they_cap} can be reached by phone at {phone}.",
    "{their_cap} phone number is {phone}.",
    "Friends call {them} at {phone}.",
  ],
  ssn: [
    "{their_cap} Social Security number is {ssn}.",
    "On official forms {they} gives the Social Security number {ssn}.",
    "{their_cap} SSN, {ssn}, appears on {their} tax records.",
  ],
  email: [
    "{they_cap} uses the email address {email}.",
    "The best way to write to {them} is {email}.",
    "{their_cap} email is {email}.",
  ],
  address: [
    "{they_cap} lives at {address}.",
    "{their_cap} home address is {address}.",
    "Mail for {them} goes to {address}.",
  ],
} as const;

const EXTRAS = [
  "{they_cap} works as {job} and spends weekends {hobby}.",
  "In {their} free time {they} enjoys {hobby}.",
  "Colleagues know {them} as {job} with a passion for {hobby}.",
];

const QUESTIONS = {
  birthday: ["What is the birth date of {name}?", "When was {name} born?"],
  phone: ["What is the phone number of {name}?", "What is {name}'s phone number?"],
  ssn: ["What is the Social Security number of {name}?", "What is {name}'s SSN?"],
  email: ["What is the email address of {name}?", "What is {name}'s email address?"],
  address: ["Where does {name} live?", "What is the home address of {name}?"],
} as const;

export function piiBiography(rng: Rng, registry: Registry): SynthDocument {
  const id = uuid(rng, registry);
  const who = person(rng, registry);
  const born = date(rng, 1940, 2003);
  const p = who.pronouns;
  const values = {
    name: who.name,
    birthday: isoDate(born),
    hometown: rng.pick(US_CITIES)[0],
    job: rng.pick(OCCUPATIONS),
    hobby: rng.pick(HOBBIES),
    phone: phone(rng, registry),
    ssn: ssnLike(rng, registry),
    email: email(rng, registry, who, born.year),
    address: address(rng, registry),
    they: p.subject,
    they_cap: capitalize(p.subject),
    them: p.object,
    their: p.possessive,
    their_cap: capitalize(p.possessive),
  };
  const facts = rng
    .shuffled(["phone", "ssn", "email", "address"] as const)
    .map((f) => fill(rng.pick(FACTS[f]), values));
  facts.splice(rng.below(facts.length + 1), 0, fill(rng.pick(EXTRAS), values));
  const sentences = [fill(rng.pick(BIRTH), values), ...facts];
  const fields = ["birthday", "phone", "ssn", "email", "address"] as const;
  return {
    id,
    task: "Task2",
    sentences,
    promptSentences: sentences.length - 2,
    questions: fields.map((f) => ({ question: fill(rng.pick(QUESTIONS[f]), values), answer: values[f] })),
  };
}
