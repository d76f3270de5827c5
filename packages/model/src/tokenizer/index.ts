export { type BpeTrainingInput, type BpeTrainingResult, trainBpe } from "./bpe-trainer.js";
export {
  BYTE_LEVEL_ALPHABET,
  BYTE_TO_CHAR,
  fromByteLevel,
  GPT2_SPLIT_REGEX,
  splitGpt2,
  toByteLevel,
} from "./byte-level.js";
export { applyChatTemplate, type ChatMessage, type ChatTemplate, loadChatTemplate } from "./chat-template.js";
export { buildTokenizerFiles, type TokenizerFiles, type TokenizerJson } from "./files.js";
export { loadTokenizer, tokenizerFromFiles, writeTokenizerFiles } from "./load.js";
export { type EncodeOptions, LetheTokenizer, type PaddedBatch, padLeft } from "./tokenizer.js";
export { type ByteLevelBpeOptions, DEFAULT_SPECIAL_TOKENS, trainByteLevelBpe } from "./train.js";
