import { InvalidArgumentError } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/** A --timeout: a positive number of seconds, at most a day. */
export function seconds(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > 86_400) throw new InvalidArgumentError('expected seconds, more than 0 and at most 86400');
  return value;
}

/** A --limit: an integer from 1 to `max`. */
export const count = (max: number) => (text: string): number => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) throw new InvalidArgumentError(`expected an integer from 1 to ${max}`);
  return value;
};
