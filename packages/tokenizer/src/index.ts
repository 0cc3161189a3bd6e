export { TokenizerError } from "./utils/errors.js";
export { Tokenizer, type EncodeOptions, type DecodeOptions, type TokenizerParts } from "./tokenizer.js";
export type { AddedToken } from "./added_vocabulary.js";
export { fromTokenizerJson } from "./serialization/tokenizer_json.js";
export { fromGpt2Files } from "./serialization/gpt2.js";
export { fromGGUFMetadata, toGGUFMetadata, type GGUFTokenizerValue, type ToGGUFOptions } from "./serialization/gguf.js";
export { GGUF_PRE_TOKENIZER_LABELS, ggufPreTokenizerAddsBos } from "./serialization/gguf_pre_tokenizers.js";
export {
  fromTiktoken,
  fromTiktokenJson,
  fromTiktokenTokens,
  parseTiktokenRanks,
  parseTiktokenCompactRanks,
  TIKTOKEN_PATTERNS,
  TIKTOKEN_SPECIAL_TOKENS,
  type TiktokenOptions,
} from "./serialization/tiktoken.js";
export { BPEModel, type BPEOptions } from "./models/bpe.js";
export { PairTable } from "./models/pair_table.js";
export { MergeTable, type MergeLookup } from "./models/merge_table.js";
export * from "./normalizers/index.js";
export * from "./pre_tokenizers/index.js";
export * from "./decoders/index.js";
export * from "./post_processors/index.js";
export { translateRegex, compileRegex } from "./utils/regex.js";
export { BYTE_TO_CHAR } from "./utils/byte_level.js";
export { DecodeStream } from "./streaming.js";
export { trainBPE, type TrainBPEOptions } from "./models/bpe_trainer.js";
export { addGlmSpecialTokens, GLM_SPECIAL_TOKENS } from "./glm.js";
export { VocabTable } from "./models/vocab_table.js";
