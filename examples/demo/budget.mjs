// Training within a time budget: the learning rate warms up over 10 steps, then follows a cosine
// down to a tenth over the run, where "the run" ends at the planned steps or at the budget,
// whichever comes first. The planned steps come from the speed of one measured step; on a busy
// machine the clock ends the run and the schedule has still run its course.
import { tidy } from "@llm/tensor";

export function timeBudgetSchedule(totalSteps, budgetSeconds, warmupSteps = 10) {
  let start = 0;
  return (step) => {
    if (step === 0) start = Date.now();
    if (step < warmupSteps) return (step + 1) / warmupSteps;
    const progress = Math.min(1, Math.max(step / totalSteps, (Date.now() - start) / 1000 / budgetSeconds));
    return 0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

/** Seconds one training step takes (forward and backward of `batch`; the second of two runs, +10% for the update). */
export async function measureStep(model, batch, loss) {
  let last = 0;
  for (let i = 0; i < 2; i++) {
    const start = performance.now();
    const value = tidy(() => {
      const { sum, count } = loss(model, batch);
      const mean = sum.div(count);
      mean.backward();
      return mean;
    });
    await value.item();
    last = (performance.now() - start) / 1000;
    value.dispose();
    for (const p of model.parameters()) p.zeroGrad();
  }
  return last * 1.1;
}

/** Steps that fit in the budget, 10% of it left for evaluations. */
export function plannedSteps(secondsPerStep, budgetSeconds, maxSteps) {
  return Math.max(20, Math.min(maxSteps, Math.floor((budgetSeconds * 0.9) / secondsPerStep)));
}
