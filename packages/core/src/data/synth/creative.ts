/**
 * Task 1: short creative stories. Each story follows one arc (setting, trouble, a strange object, a
 * companion, a journey, an obstacle, a resolution, an ending) with several phrasings per step, and yields
 * one QA row about a detail that only this story has.
 */
import type { Rng } from "../rng.js";
import { cutNear, fill, type QuestionAnswer, type SynthDocument } from "./document.js";
import { inventedName, type Registry, uuid } from "./people.js";
import {
  SEASONS,
  STORY_COMPANIONS,
  STORY_DESTINATIONS,
  STORY_ENDINGS,
  STORY_OBJECTS,
  STORY_OBSTACLES,
  STORY_PROBLEMS,
  STORY_ROLES,
  STORY_SETTINGS,
  STORY_WORKPLACES,
} from "./words.js";

const OPENINGS = [
  "In {setting}, there lived {a_role} named {hero}.",
  "{hero} had worked as {a_role} in {setting} for {years} years.",
  "Long ago, in {setting}, {a_role} called {hero} kept mostly to {their_obj}self.",
];

const TROUBLES = [
  "One {season} morning, {problem}.",
  "Everything changed in the {season} when {problem}.",
  "Nobody in {place} could explain why {problem}.",
];

const FINDINGS = [
  "While clearing out {their} {workplace}, {hero} found {object} {object_tail}.",
  "Hidden at the back of {their} {workplace}, {hero} discovered {object} {object_tail}.",
  "{hero} remembered that {their} grandmother had left {object} {object_tail} in the {workplace}.",
];

const COMPANIONS = [
  "{they_cap} set out at once, joined by {companion_kind} named {companion}.",
  "{companion}, {companion_kind}, insisted on coming along.",
  "Before dawn, {hero} knocked on the door of {companion}, {companion_kind} who owed {their_obj} a favor.",
];

const JOURNEYS = [
  "Together they travelled to {destination}, where {obstacle}.",
  "The {thing} led them to {destination}, where {obstacle}.",
  "After three days on the road they reached {destination}, where {obstacle}.",
];

const RESOLUTIONS = [
  "{companion} solved the trouble with a trick no one expected, and {hero} held up the {thing} until it glowed.",
  "{hero} set the {thing} on the ground, and within an hour the trouble in {place} was over.",
  "It was {companion} who guessed the answer, and the {thing} did the rest.",
];

const QUESTIONS: ((s: Story) => QuestionAnswer)[] = [
  (s) => ({ question: `What is the name of ${s.hero}'s companion?`, answer: s.companion }),
  (s) => ({ question: `What did ${s.hero} find in the ${s.workplace}?`, answer: s.object }),
  (s) => ({ question: `Where did ${s.hero} and ${s.companion} travel to?`, answer: s.destination }),
  (s) => ({
    question: `In which town does the story of ${s.hero} the ${s.role} take place?`,
    answer: s.place,
  }),
];

interface Story {
  hero: string;
  companion: string;
  place: string;
  role: string;
  workplace: string;
  object: string;
  destination: string;
}

export function creativeDocument(rng: Rng, registry: Registry): SynthDocument {
  const id = `"${uuid(rng, registry)}"`;
  const hero = inventedName(rng, registry);
  const companion = inventedName(rng, registry);
  const place = inventedName(rng, registry);
  const [object, objectTail, thing] = rng.pick(STORY_OBJECTS);
  const she = rng.below(2) === 0;
  const role = rng.pick(STORY_ROLES);
  const values = {
    hero,
    companion,
    place,
    setting: fill(rng.pick(STORY_SETTINGS), { place }),
    role,
    a_role: `${/^[aeiou]/.test(role) ? "an" : "a"} ${role}`,
    years: String(rng.int(3, 40)),
    season: rng.pick(SEASONS),
    problem: rng.pick(STORY_PROBLEMS),
    workplace: rng.pick(STORY_WORKPLACES),
    object,
    object_tail: objectTail,
    thing,
    companion_kind: rng.pick(STORY_COMPANIONS),
    destination: rng.pick(STORY_DESTINATIONS),
    obstacle: rng.pick(STORY_OBSTACLES),
    they_cap: she ? "She" : "He",
    their: she ? "her" : "his",
    their_obj: she ? "her" : "him",
  };
  const sentences = [
    fill(rng.pick(OPENINGS), values),
    fill(rng.pick(TROUBLES), values),
    fill(rng.pick(FINDINGS), values),
    fill(rng.pick(COMPANIONS), values),
    fill(rng.pick(JOURNEYS), values),
    fill(rng.pick(RESOLUTIONS), values),
    `From then on, ${fill(rng.pick(STORY_ENDINGS), values)}.`,
  ];
  const story: Story = {
    hero,
    companion,
    place,
    role: values.role,
    workplace: values.workplace,
    object,
    destination: values.destination,
  };
  const text = sentences.join(" ");
  return {
    id,
    task: "Task1",
    text,
    cut: cutNear(rng, text, 0.8),
    questions: [rng.pick(QUESTIONS)(story)],
  };
}
