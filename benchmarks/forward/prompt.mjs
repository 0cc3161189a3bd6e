/** A prompt of `n` token ids, the same for every contender (a small LCG, seeded): ids from 3 up, past the placeholder specials. */
export function promptIds(n, vocab, seed) {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 3 + (s % (vocab - 3));
  });
}
