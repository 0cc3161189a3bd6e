/** Types for weights.mjs (plain JavaScript so that make.mjs runs in Node without a build). */
export declare const CONFIG: { readonly model_type: "llama"; readonly vocab_size: number } & Readonly<Record<string, unknown>>;
export declare function goldenValues(name: string, count: number, rank: number): Float32Array;
