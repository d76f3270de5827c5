/** Durations as `time_budget` takes them: `1h`, `30m`, `90s`, `1h30m`, `1.5h`, or a number of seconds. */
const DURATION = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/;

export function isDuration(text: string): boolean {
  const match = DURATION.exec(text.trim());
  if (match === null) return false;
  return match.slice(1).some((part) => part !== undefined) && durationSeconds(text) > 0;
}

/** Seconds in a duration; a number is already seconds. Throws RangeError on anything else. */
export function durationSeconds(value: string | number): number {
  if (typeof value === "number") return value;
  const match = DURATION.exec(value.trim());
  if (match === null || match.slice(1).every((part) => part === undefined)) {
    throw new RangeError(`not a duration: ${JSON.stringify(value)} (expected e.g. 1h, 30m, 90s, 1h30m)`);
  }
  const [hours, minutes, seconds] = match.slice(1).map((part) => Number(part ?? 0)) as [
    number,
    number,
    number,
  ];
  return hours * 3600 + minutes * 60 + seconds;
}
