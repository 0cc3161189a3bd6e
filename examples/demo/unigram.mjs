// The baseline a language model has to beat: every token drawn independently with its training
// frequency (add-one smoothed over the vocabulary). Its loss on held-out targets is their mean
// -log p(token), the same quantity as the model's held-out cross-entropy.

/** Unigram log-probabilities from training token ids. */
export function unigramModel(trainIds, vocabSize) {
  const counts = new Float64Array(vocabSize).fill(1);
  for (const id of trainIds) counts[id] += 1;
  const total = trainIds.length + vocabSize;
  return Float64Array.from(counts, (c) => Math.log(c / total));
}

/** Mean negative log-likelihood (nats per token) of `targets` under the unigram model. */
export function unigramLoss(logProbs, targets) {
  let sum = 0;
  for (const id of targets) sum -= logProbs[id];
  return sum / targets.length;
}
