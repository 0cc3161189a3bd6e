import { checkNumber } from "./errors.js";

/** A learning-rate schedule: the factor (of each group's base lr) to use at a 0-based step. */
export type Schedule = (step: number) => number;

export const constant: Schedule = () => 1;

/** Linear warmup from 0 to 1 over warmupSteps (step 0 gets 1/warmupSteps, so no step is wasted at lr 0). */
export function linearWarmup(warmupSteps: number): Schedule {
  checkNumber("linearWarmup", "warmupSteps", warmupSteps, (v) => Number.isInteger(v) && v >= 0, "an integer >= 0");
  return (step) => (step < warmupSteps ? (step + 1) / warmupSteps : 1);
}

export interface WarmupCosineOptions {
  warmupSteps: number;
  totalSteps: number;
  /** Factor at the end of the decay (default 0.1). */
  minFactor?: number;
}

/** Linear warmup, then half a cosine from 1 down to minFactor at totalSteps (and minFactor after). */
export function warmupCosine({ warmupSteps, totalSteps, minFactor = 0.1 }: WarmupCosineOptions): Schedule {
  checkNumber("warmupCosine", "warmupSteps", warmupSteps, (v) => Number.isInteger(v) && v >= 0, "an integer >= 0");
  checkNumber(
    "warmupCosine",
    "totalSteps",
    totalSteps,
    (v) => Number.isInteger(v) && v > warmupSteps,
    `an integer > warmupSteps (${warmupSteps})`,
  );
  checkNumber("warmupCosine", "minFactor", minFactor, (v) => v >= 0 && v <= 1, "in [0, 1]");
  const warm = linearWarmup(warmupSteps);
  return (step) => {
    if (step < warmupSteps) return warm(step);
    const progress = Math.min(1, (step - warmupSteps) / (totalSteps - warmupSteps));
    return minFactor + (1 - minFactor) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}
