# Regenerates hf-bpe-fixture.json with the Python `tokenizers` package (the Rust BpeTrainer). Run:
#   python -m venv v && v/bin/pip install tokenizers && v/bin/python make-hf-bpe-fixture.py (from this directory)
import json, os, random
import tokenizers
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
rng = random.Random(2025)
syll = ["ka","lo","mi","ne","tu","ra","shi","po","den","vel","qu","ix","ö","ß","日","本","é","th","er","an"]
words = ["the","of","and","forget","retain","model","author","born","in","1976","it's","don't","we'll","—","😀","naïve"]
parts = []
for i in range(3500):
    r = rng.random()
    if r < 0.45: w = rng.choice(words)
    elif r < 0.9: w = "".join(rng.choice(syll) for _ in range(rng.randint(1, 4)))
    else: w = str(rng.randint(0, 99999))
    if rng.random() < 0.08: w += rng.choice([".", ",", "!", "?", ":", "...", "'s"])
    parts.append(w)
    if rng.random() < 0.03: parts.append(rng.choice(["\n", "\n\n", "\t", "  ", "\r\n"]))
text = " ".join(parts)
out = {"tokenizers_version": tokenizers.__version__,
       "trainer": "BpeTrainer(vocab_size=VOCAB, min_frequency=MINF, special_tokens=['<|endoftext|>','<|padding|>'], initial_alphabet=ByteLevel.alphabet()); pre_tokenizer ByteLevel(add_prefix_space=False, use_regex=True)",
       "note": "HF's trainer learns from special-token text in the corpus; Lethe cuts it out, so the text has none.", "text": text, "runs": []}
for V, minf in [(700, 2), (420, 4)]:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tr = trainers.BpeTrainer(vocab_size=V, min_frequency=minf, special_tokens=["<|endoftext|>", "<|padding|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([text], trainer=tr)
    m = json.loads(tok.to_str())["model"]
    merges = [" ".join(x) if isinstance(x, list) else x for x in m["merges"]]
    sample = text[:400]
    out["runs"].append({"vocab_size": V, "min_frequency": minf, "merges": merges,
                        "vocab_size_reached": len(m["vocab"]), "sample": sample, "sample_ids": tok.encode(sample).ids})
json.dump(out, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "hf-bpe-fixture.json"), "w"), ensure_ascii=False, indent=0)
print(len(text), [len(r["merges"]) for r in out["runs"]])
