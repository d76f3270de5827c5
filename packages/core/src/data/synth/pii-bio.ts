/**
 * Task 2: short biographies of invented people with fake PII — name, birthday, phone, SSN-shaped number
 * (900 area, never issued), email and home address. Five QA rows per document in the public data's
 * order (qa0 birthday, qa1 SSN, qa2 phone, qa3 email, qa4 address) and answer forms: the text writes
 * `March 29, 1976`, `900-57-8002`, `565-577-9919` while the answers are `1976-03-29`, `900578002`,
 * `5655779919`; the address answer keeps its final period.
 */
import type { Rng } from "../rng.js";
import { cutNear, fill, type SynthDocument } from "./document.js";
import {
  address,
  capitalize,
  date,
  email,
  isoDate,
  longDate,
  person,
  phoneDigits,
  type Registry,
  ssnDigits,
  uuid,
} from "./people.js";
import { HOBBIES, OCCUPATIONS, US_CITIES } from "./words.js";

const BIRTH = [
  "{name} was born on {birthday}.",
  "{name} was born on {birthday} in {hometown}.",
  "Born on {birthday} in {hometown}, {name} still visits the town every summer.",
];

const FACTS = {
  ssn: [
    "{their_cap} Social Security Number is {ssn}.",
    "On official forms {they} gives the Social Security number {ssn}.",
    "{their_cap} SSN, {ssn}, appears on {their} tax records.",
  ],
  phone: [
    "{they_cap} can be reached via phone at {phone}.",
    "{their_cap} phone number is {phone}.",
    "Friends call {them} at {phone}.",
  ],
  email: [
    "{they_cap} uses the email address {email}.",
    "{their_cap} email address is {email_link}.",
    "{first} can also be contacted via email at {email_link}.",
  ],
  address: [
    "{their_cap} home address is {address}.",
    "{they_cap} resides at {address}.",
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
  ssn: ["What is {name}'s Social Security Number?", "What is the Social Security number of {name}?"],
  phone: ["What is {name}'s phone number?", "What is the phone number of {name}?"],
  email: ["What is {name}'s email address?", "What is the email address of {name}?"],
  address: ["What is the home address of {name}?", "Where does {name} live?"],
} as const;

export function piiBiography(rng: Rng, registry: Registry): SynthDocument {
  const id = uuid(rng, registry);
  const who = person(rng, registry);
  const born = date(rng, 1940, 2003);
  const phone = phoneDigits(rng, registry);
  const ssn = ssnDigits(rng, registry);
  const mail = email(rng, registry, who);
  const home = address(rng, registry);
  const p = who.pronouns;
  const values = {
    name: who.name,
    first: who.first,
    birthday: longDate(born),
    hometown: rng.pick(US_CITIES)[0],
    job: rng.pick(OCCUPATIONS),
    hobby: rng.pick(HOBBIES),
    // Mostly dashed in the text, like the public data, sometimes the bare digits or (NXX) NXX-XXXX.
    phone:
      rng.below(4) === 0
        ? `(${phone.slice(0, 3)}) ${phone.slice(3, 6)}-${phone.slice(6)}`
        : `${phone.slice(0, 3)}-${phone.slice(3, 6)}-${phone.slice(6)}`,
    ssn: rng.below(5) === 0 ? ssn : `${ssn.slice(0, 3)}-${ssn.slice(3, 5)}-${ssn.slice(5)}`,
    email: mail,
    // The public text often writes the address as a Markdown mailto link with an escaped underscore.
    email_link: `[${mail.replace("_", "\\_")}](mailto:${mail})`,
    address: home,
    they: p.subject,
    they_cap: capitalize(p.subject),
    them: p.object,
    their: p.possessive,
    their_cap: capitalize(p.possessive),
  };
  const facts = rng
    .shuffled(["ssn", "phone", "email", "address"] as const)
    .map((f) => fill(rng.pick(FACTS[f]), values));
  facts.splice(rng.below(facts.length + 1), 0, fill(rng.pick(EXTRAS), values));
  const text = [fill(rng.pick(BIRTH), values), ...facts].join(" ");
  const answers = { birthday: isoDate(born), ssn, phone, email: mail, address: `${home}.` };
  return {
    id,
    task: "Task2",
    text,
    cut: cutNear(rng, text, 0.4),
    questions: (["birthday", "ssn", "phone", "email", "address"] as const).map((f) => ({
      question: fill(rng.pick(QUESTIONS[f]), values),
      answer: answers[f],
    })),
  };
}
