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

/**
 * Seconds one training step takes: forward and backward of `batch`, the fastest of three runs after a
 * warm-up one (other work on the machine only ever slows a run down), +10% for the update.
 */
export async function measureStep(model, batch, loss) {
  let best = Infinity;
  for (let i = 0; i < 4; i++) {
    const start = performance.now();
    const value = tidy(() => {
      const { sum, count } = loss(model, batch);
      const mean = sum.div(count);
      mean.backward();
      return mean;
    });
    await value.item();
    if (i > 0) best = Math.min(best, (performance.now() - start) / 1000);
    value.dispose();
    for (const p of model.parameters()) p.zeroGrad();
  }
  return best * 1.1;
}

/**
 * Steps that fit in the budget (10% of it left for evaluations), planned a quarter over: running out
 * of time ends a run with its schedule complete, running out of steps would leave time unused.
 */
export function plannedSteps(secondsPerStep, budgetSeconds, maxSteps) {
  return Math.max(20, Math.min(maxSteps, Math.floor((1.25 * budgetSeconds * 0.9) / secondsPerStep)));
}
