/**
 * What the evaluator needs from a language model. `@lethe/model` provides the real one
 * (`loadEvalModel`); anything else that can generate and score text can be evaluated the same way.
 * Batching is the caller's choice: every method takes a batch and pads it itself (left padding).
 */
export interface EvalModel {
  /** Number of decoder layers (for the layer-wise analysis). */
  readonly numLayers: number;

  /** Tokens generated so far by `generate` (EOS excluded), if the model counts them (for tokens/s). */
  readonly generatedTokens?: number;

  /** Token ids of `text` (special tokens as the tokenizer adds them by default, or none). */
  tokenize(text: string, options?: { addSpecialTokens?: boolean }): number[];

  /**
   * Greedy continuation of each prompt, as the official script runs it: prompt tokenized with the
   * tokenizer's default special tokens, no chat template, at most `maxNewTokens` new tokens, stopping at
   * EOS; only the new tokens decoded, special tokens skipped.
   */
  generate(prompts: readonly string[], options: { maxNewTokens: number }): Promise<string[]>;

  /** Mean next-token cross-entropy over each whole text (HF `model(ids, labels=ids).loss`). */
  meanNll(texts: readonly string[]): Promise<number[]>;

  /**
   * log p(next token = id | prompt) for each prompt and each candidate id, from the softmax over the
   * full vocabulary at the prompt's last position.
   */
  nextTokenLogProbs(prompts: readonly string[], candidateIds: readonly number[]): Promise<number[][]>;

  /**
   * The residual stream after every decoder layer, per text: `layers[l]` is a tokens × hidden matrix
   * (row-major) of the output of decoder layer l (HF `hidden_states[l + 1]`), padding excluded.
   */
  hiddenStates(texts: readonly string[]): Promise<TextHiddenStates[]>;
}

export interface TextHiddenStates {
  tokens: number;
  hidden: number;
  layers: Float32Array[];
}
