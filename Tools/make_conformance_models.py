#!/usr/bin/env python3
"""Full-size conformance models: the published configs of distilbert-base-uncased-finetuned-sst-2-english
and distilgpt2, with seeded RANDOM weights (no real weights of either are reachable here), and one
real classifier: all-MiniLM-L6-v2 fine-tuned on the labelled fixture headlines.

Goals
- Exact published configs (dims, layers, heads, vocab, activations, eps), real tokenizers
  (bert-base-uncased's vocab.txt, GPT-2's vocab.json + merges.txt), so the engine runs at full size
  on the same shapes, ids and code paths as the real models.
- Every parameter randomised, so that a swapped or misread tensor shows: matrices and embeddings
  N(0, initializer_range) (the published 0.02, what `transformers` itself draws), LayerNorm weights
  1 + N(0, 0.1), LayerNorm and linear biases N(0, 0.02).
- Reference outputs from `transformers` (f32, eager) on the fixture texts, committed as small JSON
  (Tests/Fixtures/conformance/*.json) with the SHA-256 of the weights they came from.

The random models' outputs mean nothing: never show them as a prediction. They are for conformance
(our f32 against transformers), quantization quality (our f16/bf16/int8 against our f32) and speed.
A random model's classification logits are near zero and near equal (|logit| < 0.1), so their cosine
measures noise; `minilm-headlines` is a real encoder with a trained head (BertForSequenceClassification
from the real all-MiniLM-L6-v2 weights, fine-tuned for a few seeded epochs on the 130 labelled texts of
Tests/Fixtures/sentiment/market_headlines.jsonl). It is a weak sentiment model (130 examples, scored on
the texts it was trained on), but its logits have the scale of a trained classifier's.

Usage: Tools/.venv/bin/python Tools/make_conformance_models.py   (after Tools/make_venv.sh,
Tools/fetch_minilm.sh). Writes Weights/conformance/{distilbert-sst2-random,distilgpt2-random,
minilm-headlines}/ (git-ignored; 255, 312 and 87 MB) and Tests/Fixtures/conformance/.
"""
import hashlib
import json
import shutil
import sys
from pathlib import Path

import torch
import transformers as T

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Weights" / "conformance"
FIX = ROOT / "Tests" / "Fixtures" / "conformance"
BERT_VOCAB = ROOT / "Tests" / "Fixtures" / "tokenizers" / "bert-base-uncased" / "vocab.txt"
GPT2_DIR = ROOT / "Tests" / "Fixtures" / "tokenizers" / "gpt2"
HEADLINES = ROOT / "Tests" / "Fixtures" / "sentiment" / "market_headlines.jsonl"
SAMPLE = list(range(0, 50257, 98))[:512]  # vocabulary ids whose logits are kept
MINILM = ROOT / "Weights" / "models" / "all-MiniLM-L6-v2"
SEED = {"distilbert-sst2-random": 20261126, "distilgpt2-random": 20261127, "minilm-headlines": 20261128}


def log(msg):
    print(f"[make_conformance_models] {msg}", file=sys.stderr, flush=True)


def distilbert_sst2_config():
    # config.json of distilbert-base-uncased-finetuned-sst-2-english
    return T.DistilBertConfig(
        vocab_size=30522, dim=768, n_layers=6, n_heads=12, hidden_dim=3072,
        activation="gelu", max_position_embeddings=512, sinusoidal_pos_embds=False,
        dropout=0.1, attention_dropout=0.1, qa_dropout=0.1, seq_classif_dropout=0.2,
        initializer_range=0.02, pad_token_id=0, num_labels=2, finetuning_task="sst-2",
        id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1},
        architectures=["DistilBertForSequenceClassification"],
    )


def distilgpt2_config():
    # config.json of distilgpt2
    return T.GPT2Config(
        vocab_size=50257, n_positions=1024, n_embd=768, n_layer=6, n_head=12,
        activation_function="gelu_new", resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1,
        layer_norm_epsilon=1e-5, initializer_range=0.02, bos_token_id=50256, eos_token_id=50256,
        architectures=["GPT2LMHeadModel"],
    )


def randomize(model, seed, std):
    g = torch.Generator().manual_seed(seed)
    ln = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.LayerNorm)}
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if id(p) in ln:
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.02 * noise)
            else:
                p.copy_(std * noise)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def texts():
    rows = [json.loads(l) for l in HEADLINES.read_text().splitlines() if l.strip()]
    return [r["text"] for r in rows[:24]]


def save(model, d):
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    model.save_pretrained(str(d))
    gen = d / "generation_config.json"
    if gen.exists():
        gen.unlink()


def f32list(t):
    return [float(x) for x in t.reshape(-1).tolist()]


def make_distilbert():
    name = "distilbert-sst2-random"
    d = OUT / name
    model = T.DistilBertForSequenceClassification(distilbert_sst2_config()).eval()
    randomize(model, SEED[name], 0.02)
    save(model, d)
    shutil.copyfile(BERT_VOCAB, d / "vocab.txt")
    (d / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "DistilBertTokenizer", "do_lower_case": True, "model_max_length": 512}))
    tok = T.DistilBertTokenizerFast(vocab=str(d / "vocab.txt"), do_lower_case=True)
    assert len(tok.get_vocab()) == 30522, "vocab not loaded (transformers API change?)"
    cases = []
    with torch.no_grad():
        for t in texts():
            enc = tok(t, return_tensors="pt")
            logits = model(**enc).logits[0]
            cases.append({"text": t, "input_ids": enc["input_ids"][0].tolist(), "logits": f32list(logits)})
    return name, d, cases


def make_distilgpt2():
    name = "distilgpt2-random"
    d = OUT / name
    model = T.GPT2LMHeadModel(distilgpt2_config()).eval()
    randomize(model, SEED[name], 0.02)
    model.tie_weights()
    save(model, d)
    for f in ("vocab.json", "merges.txt"):
        shutil.copyfile(GPT2_DIR / f, d / f)
    tok = T.GPT2TokenizerFast(vocab=str(d / "vocab.json"), merges=str(d / "merges.txt"))
    assert len(tok.get_vocab()) == 50257, "vocab not loaded (transformers API change?)"
    cases = []
    with torch.no_grad():
        for t in texts()[:8]:
            ids = tok(t, return_tensors="pt")["input_ids"]
            logits = model(input_ids=ids).logits[0]  # (T, V)
            # Every position: argmax, max, and the logits of a fixed sample of 512 vocabulary ids
            # (the full 50257 x T would be megabytes of JSON).
            cases.append({"text": t, "input_ids": ids[0].tolist(),
                          "argmax": logits.argmax(-1).tolist(),
                          "max": f32list(logits.max(-1).values),
                          "sampled_ids": SAMPLE,
                          "sampled_logits": [f32list(row[SAMPLE]) for row in logits]})
    return name, d, cases


def make_minilm_headlines():
    """Real all-MiniLM-L6-v2 body + a classification head, fine-tuned (all weights) on the fixture headlines."""
    name = "minilm-headlines"
    d = OUT / name
    torch.manual_seed(SEED[name])
    rows = [json.loads(l) for l in HEADLINES.read_text().splitlines() if l.strip()]
    labels = ["negative", "neutral", "positive"]
    config = T.BertConfig.from_pretrained(str(MINILM))
    config.num_labels = 3
    config.id2label = dict(enumerate(labels))
    config.label2id = {l: i for i, l in enumerate(labels)}
    config.architectures = ["BertForSequenceClassification"]
    model = T.BertForSequenceClassification.from_pretrained(str(MINILM), config=config)
    tok = T.BertTokenizerFast(vocab=str(MINILM / "vocab.txt"), do_lower_case=True)
    assert len(tok.get_vocab()) == 30522, "vocab not loaded (transformers API change?)"
    texts_, ys = [r["text"] for r in rows], torch.tensor([labels.index(r["label"]) for r in rows])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    g = torch.Generator().manual_seed(SEED[name])
    model.train()
    for epoch in range(8):
        order = torch.randperm(len(rows), generator=g).tolist()
        total = 0.0
        for i in range(0, len(order), 16):
            idx = order[i:i + 16]
            enc = tok([texts_[j] for j in idx], padding=True, return_tensors="pt")
            loss = model(**enc, labels=ys[idx]).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        log(f"{name}: epoch {epoch + 1} loss {total / len(rows):.4f}")
    model.eval()
    save(model, d)
    shutil.copyfile(MINILM / "vocab.txt", d / "vocab.txt")
    (d / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512}))
    cases, right = [], 0
    with torch.no_grad():
        for t, y in zip(texts_, ys.tolist()):
            enc = tok(t, return_tensors="pt")
            logits = model(**enc).logits[0]
            right += int(logits.argmax()) == y
            cases.append({"text": t, "input_ids": enc["input_ids"][0].tolist(), "logits": f32list(logits)})
    log(f"{name}: {right}/{len(rows)} training texts labelled as their fixture label")
    return name, d, cases


def main():
    torch.set_num_threads(2)
    FIX.mkdir(parents=True, exist_ok=True)
    for make in (make_distilbert, make_distilgpt2, make_minilm_headlines):
        name, d, cases = make()
        ref = {
            "model": name,
            "note": "RANDOM weights with a published config (see Tools/make_conformance_models.py); "
                    "outputs are meaningless, for conformance and quantization quality only",
            "seed": SEED[name],
            "weights_sha256": sha256(d / "model.safetensors"),
            "generator": f"torch {torch.__version__}, transformers {T.__version__}, f32, eval",
            "cases": cases,
        }
        (FIX / f"{name}.json").write_text(json.dumps(ref, separators=(",", ":")))
        log(f"{d.relative_to(ROOT)}: {(d / 'model.safetensors').stat().st_size >> 20} MB, "
            f"{len(cases)} reference cases -> {(FIX / f'{name}.json').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
