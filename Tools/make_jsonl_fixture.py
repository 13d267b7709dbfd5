#!/usr/bin/env python3
"""The held-out style check of `smm tokenize --jsonl` (issue: reliability): a corpus of odd
records (empty, whitespace-only, control characters, 1 MiB texts, lines that are not records) and
what Hugging Face `tokenizers` gives for every valid one, for BERT (bert-base-uncased's vocab,
which all-MiniLM-L6-v2 uses) and GPT-2.

Writes Tests/Fixtures/tokenizers/jsonl_records.json: a list of records, each
  {"line": <the input line as text>} or {"line_hex": <its bytes, for invalid UTF-8>}
  or {"repeat": <unit>, "bytes": <n>} (a {"text": unit * k} line whose text is cut to n bytes),
and, for a line that is a valid record, "bert": ids (truncated to `max_length`, as smm truncates
to the model's input) and "gpt2": ids (short texts only); for one that is not, "error": true.

Run: Tools/.venv/bin/python Tools/make_jsonl_fixture.py
"""
from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import tokenizers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOK = ROOT / "Tests/Fixtures/tokenizers"
MAX_LENGTH = 512  # all-MiniLM-L6-v2's input (max_position_embeddings), which smm truncates to

TEXTS = [
    "Shares of Acme rose 4% after strong earnings.",
    "",
    " ",
    "   ",
    "\t",
    "\n",
    "\r\n",
    " \t \r\n \u00a0 \u3000 ",
    "\u0000",
    "a\u0000b",
    "\u0007bell\u0008",
    "\u001b[31mred\u001b[0m",
    "\u007f\u0085\u009f",
    "\u200b",
    "zero\u200bwidth\u200cjoin\u200d",
    "\ufeffbom inside",
    "soft\u00adhyphen",
    "\u2028line\u2029para",
    "caf\u00e9 cafe\u0301 CAF\u00c9",
    "\u4e0a\u6d77\u8bc1\u5238 Shanghai",
    "emoji \U0001F600\U0001F4C8 and a flag \U0001F1FA\U0001F1F8",
    "\U0001D504 math fraktur",
    "Ω≈ç√∫˜µ≤≥÷",
    "tab\tinside and  double  spaces",
    "ends with a space ",
    "[CLS] [SEP] [MASK] are just text here",
    "<|endoftext|> is GPT-2's special token",
]

# Lines that are not valid records: smm answers {"index", "error"} for each.
BAD_LINES = [
    {"line": ""},                        # a blank line
    {"line": "   "},                     # a whitespace-only line
    {"line": "not json"},
    {"line": "[1, 2, 3]"},
    {"line": "{\"txt\": \"no text field\"}"},
    {"line": "{\"text\": 42}"},
    {"line": "{\"text\": null}"},
    {"line": "{\"text\": \"unterminated"},
    {"line_hex": ("{\"text\": \"caf".encode() + b"\xe9\"}").hex()},   # Latin-1 byte: invalid UTF-8
    {"line_hex": ("{\"text\": \"".encode() + b"\xed\xa0\x80\"}").hex()},  # an encoded surrogate
    {"repeat": "x", "bytes": (1 << 20) + 1},  # one byte over the 1 MiB limit
]

LONG = [
    {"repeat": "the market rallied on news ", "bytes": 1 << 20},   # 1 MiB of ASCII words
    {"repeat": "\u00e9t\u00e9 ", "bytes": (1 << 20) - 2},          # 1 MiB of accented text
]


def repeated(unit: str, n: int) -> str:
    raw = (unit * (n // len(unit.encode()) + 1)).encode()[:n]
    return raw.decode("utf-8", errors="ignore")


def main() -> None:
    bert = Tokenizer.from_file(str(TOK / "bert-base-uncased/tokenizer.json"))
    bert.enable_truncation(MAX_LENGTH)
    bert.no_padding()
    gpt2 = Tokenizer(tokenizers.models.BPE.from_file(str(TOK / "gpt2/vocab.json"), str(TOK / "gpt2/merges.txt")))
    gpt2.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    gpt2.decoder = tokenizers.decoders.ByteLevel()
    gpt2.add_special_tokens(["<|endoftext|>"])  # as GPT2TokenizerFast has it

    records = []
    for t in TEXTS:
        line = json.dumps({"text": t}, ensure_ascii=len(records) % 2 == 1)
        records.append({"line": line, "bert": bert.encode(t).ids, "gpt2": gpt2.encode(t).ids})
    for spec in BAD_LINES:
        if "repeat" in spec:
            records.append({"repeat": spec["repeat"], "bytes": spec["bytes"], "error": True})
        else:
            records.append({k: v for k, v in spec.items()} | {"error": True})
    for spec in LONG:
        t = repeated(spec["repeat"], spec["bytes"])
        assert len(t.encode()) <= 1 << 20
        records.append({"repeat": spec["repeat"], "bytes": spec["bytes"], "bert": bert.encode(t).ids})
    records.insert(len(TEXTS) // 2, records.pop(len(TEXTS) + 2))  # a bad line among the good ones

    out = TOK / "jsonl_records.json"
    meta = {"generator": f"Tools/make_jsonl_fixture.py / tokenizers {tokenizers.__version__}",
            "bert_max_length": MAX_LENGTH, "records": records}
    out.write_text(json.dumps(meta, ensure_ascii=True, indent=0) + "\n")
    print(f"wrote {out} ({len(records)} records, {out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
