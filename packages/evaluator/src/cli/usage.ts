export const SCORE_USAGE = `usage: lethe-eval score --forget PRED --retain PRED [--mia-member NLL --mia-nonmember NLL]
                        [--mmlu-accuracy X] [--no-pandas-quirk] --out eval.json
  score generations made by any system. PRED rows are the dataset rows plus "generation";
  NLL rows are {"id", "nll"} (mean token NLL of each MIA document).

  --no-pandas-quirk  score the texts as given; by default empty or NA-like texts ("", "None", "NA", ...)
                     are scored as "nan", as the official script's CSV round trip does.`;

export const RUN_USAGE = `usage: lethe-eval run CHECKPOINT [--adapter URI] --forget FILE --retain FILE
                      [--mia-member FILE --mia-nonmember FILE] [--mmlu DIR|FILE] [--base URI]
                      [--max-new-tokens 256] [--batch-size 8] [--ntrain 5] [--layer-samples 64]
                      [--predictions DIR] [--no-pandas-quirk] [--resume] --out eval.json
  generate with a checkpoint (greedy, no chat template), compute MIA NLLs and MMLU, score, and
  (with --base) compare every decoder layer against the base checkpoint.

  Every input is checked before anything is generated: the data files, the MIA documents, the MMLU
  layout (with --ntrain > 0 every subject needs its dev file; --ntrain 0 is zero-shot) and that --out
  and --predictions can be written.
  Results are written as they are produced to OUT.partial.jsonl; an evaluation that fails or is
  interrupted keeps them there, and the same command with --resume continues from them.

  --no-pandas-quirk  score the texts as given (see lethe-eval score --help).`;

export const USAGE = `usage:
${SCORE_USAGE.replace(/^usage: /, "  ")}

${RUN_USAGE.replace(/^usage: /, "  ")}

Every evaluation is recorded as a tracker run (LETHE_TRACKER=local|wandb|none, default local under
LETHE_RUNS_DIR or ./runs), opened when the work starts: progress as history rows, the options as config,
scores as summary values, layer-wise numbers as tables, the checkpoint and eval.json as artifacts.`;
