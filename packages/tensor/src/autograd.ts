import { keep, noGrad, tidy } from "./engine.js";
import { ArgumentError, ShapeError, fmtShape } from "./errors.js";
import type { Tensor } from "./tensor.js";
import { ones } from "./ops/creation.js";

/** Tensors that lead to `root` through recorded ops, inputs before the ops that use them. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, expanded] = stack.pop()!;
    if (expanded) {
      order.push(t);
      continue;
    }
    if (visited.has(t)) continue;
    visited.add(t);
    stack.push([t, true]);
    for (const input of t.node?.inputs ?? []) {
      if (input.requiresGrad && !visited.has(input)) stack.push([input, false]);
    }
  }
  return order;
}

/**
 * Reverse-mode differentiation from `root`: leaves that require grad get (or add to) `.grad`.
 * Each op's backward is built from forward ops, so every backend differentiates. Unless
 * `retainGraph`, the graph is released afterwards and tensors kept only for it are freed.
 */
export function backward(root: Tensor, gradIn: Tensor | undefined, retainGraph: boolean): void {
  if (!root.requiresGrad) {
    throw new ArgumentError(`backward: ${root} does not require grad (no input of the ops that made it requires grad)`);
  }
  if (!gradIn && root.size !== 1) {
    throw new ShapeError(`backward: a gradient must be given for a non-scalar output of shape ${fmtShape(root.shape)}`);
  }
  const order = topologicalOrder(root);
  noGrad(() =>
    tidy(() => {
      const grads = new Map<Tensor, Tensor>();
      // gradients this pass made as sums or fresh pads, held by `grads` alone: an op with
      // `accumulate` may add into them in place (see GradNode.accumulate)
      const owned = new Set<Tensor>();
      grads.set(root, gradIn ?? ones(root.shape, { backend: root.backend }));
      for (let i = order.length - 1; i >= 0; i--) {
        const t = order[i]!;
        const g = grads.get(t);
        if (!g) continue;
        grads.delete(t);
        owned.delete(g); // passed on from here (a backward may hand it to several inputs)
        if (!t.node) {
          accumulateLeaf(t, g);
          continue;
        }
        // A scope per op: its backward's temporaries are freed (and their buffers reused) as soon
        // as its input gradients exist, instead of piling up until the whole pass ends.
        const node = t.node;
        const into = node.accumulate && node.inputs[0]!.requiresGrad ? grads.get(node.inputs[0]!) : undefined;
        if (into && owned.has(into) && tidy(() => node.accumulate!(into, g))) continue;
        const inputGrads = tidy(() => node.backward(g));
        if (node.accumulate && inputGrads[0]) owned.add(inputGrads[0]);
        t.node.inputs.forEach((input, k) => {
          const gi = inputGrads[k];
          if (!gi || !input.requiresGrad) return;
          if (gi.shape.length !== input.shape.length || gi.shape.some((d, j) => d !== input.shape[j])) {
            throw new ShapeError(
              `backward: the gradient of ${t.node!.op}'s input ${k} has shape ${fmtShape(gi.shape)}, expected ${fmtShape(input.shape)}`,
            );
          }
          const previous = grads.get(input);
          const sum = previous ? previous.add(gi) : gi;
          if (previous) owned.add(sum);
          grads.set(input, sum);
        });
      }
    }),
  );
  if (!retainGraph) releaseGraph(order);
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  const previous = leaf.grad;
  leaf.grad = keep(previous ? previous.add(g) : g.contiguous().detach());
  previous?.dispose();
}

function releaseGraph(order: readonly Tensor[]): void {
  const owned: Tensor[] = [];
  for (const t of order) {
    if (!t.node) continue;
    for (const s of [...t.node.inputs, ...t.node.saved]) if (s.graphOwned) owned.push(s);
    t.node = null;
  }
  for (const t of owned) t.dispose();
}
