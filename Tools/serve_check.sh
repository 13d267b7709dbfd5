#!/usr/bin/env bash
# Starts `smm serve` on the real all-MiniLM-L6-v2 and checks it from the outside:
#   1. the official `openai` Python client (PyPI openai, pinned below), unchanged, with
#      base_url=http://127.0.0.1:PORT/v1 and an API key: float and base64 embeddings, a batch, the
#      model list, a 401 with a wrong key, a 400 for an empty input list;
#   2. plain TEI-shaped requests with curl: /embed, /tokenize, /info, /predict (400: no classifier),
#      /health and /ready without the key, /metrics;
#   3. SIGTERM: the process exits 0.
# The client goes into Tools/.venv (made by Tools/make_venv.sh, or a plain venv made here when
# absent); SMM_SERVE_VENV picks another. Usage: bash Tools/serve_check.sh [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-18181}"
MODEL_DIR="Weights/models/all-MiniLM-L6-v2"
OPENAI_VERSION="3.63.0"
VENV="${SMM_SERVE_VENV:-Tools/.venv}"

[ -f "$MODEL_DIR/model.safetensors" ] || bash Tools/fetch_minilm.sh
[ -x .build/release/smm ] || swift build -c release --product smm
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/python" -c "import openai, sys; sys.exit(openai.__version__ != '$OPENAI_VERSION')" 2>/dev/null \
  || "$VENV/bin/pip" install -q "openai==$OPENAI_VERSION"

KEY="check-$RANDOM$RANDOM"
KEYFILE="$(mktemp)"
echo "$KEY" > "$KEYFILE"
LOG="$(mktemp)"
.build/release/smm serve -m "$MODEL_DIR" --port "$PORT" --api-key-file "$KEYFILE" >"$LOG" 2>&1 &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; rm -f "$KEYFILE"; }
trap cleanup EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null || { cat "$LOG"; echo "serve_check: not ready"; exit 1; }

echo "== openai $OPENAI_VERSION client"
SMM_URL="http://127.0.0.1:$PORT/v1" SMM_KEY="$KEY" "$VENV/bin/python" - <<'PY'
import math, os, openai
url, key = os.environ["SMM_URL"], os.environ["SMM_KEY"]
client = openai.OpenAI(base_url=url, api_key=key)
text = "Stocks edge higher as investors await inflation data"
r = client.embeddings.create(model="all-MiniLM-L6-v2", input=text, encoding_format="float")
v = r.data[0].embedding
assert len(v) == 384 and abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-4, len(v)
assert r.model == "all-MiniLM-L6-v2" and r.usage.prompt_tokens > 0
# The client's default encoding is base64 (decoded by the client itself).
b = client.embeddings.create(model="all-MiniLM-L6-v2", input=[text, "Bond yields fall"]).data
assert len(b) == 2 and [d.index for d in b] == [0, 1]
cos = sum(x * y for x, y in zip(b[0].embedding, v))
assert cos > 0.99999, cos
other = sum(x * y for x, y in zip(b[1].embedding, v))
assert other < 0.9, other
ids = client.models.list()
assert [m.id for m in ids.data] == ["all-MiniLM-L6-v2"], ids
assert client.models.retrieve("all-MiniLM-L6-v2").id == "all-MiniLM-L6-v2"
try:
    openai.OpenAI(base_url=url, api_key="wrong", max_retries=0).embeddings.create(model="all-MiniLM-L6-v2", input="x")
    raise SystemExit("no 401 with a wrong key")
except openai.AuthenticationError as e:
    assert e.status_code == 401
try:
    client.embeddings.create(model="all-MiniLM-L6-v2", input=[])
    raise SystemExit("no 400 for an empty input")
except openai.BadRequestError as e:
    assert e.status_code == 400 and e.body["param"] == "input", e.body
try:
    client.embeddings.create(model="nope", input="x")
    raise SystemExit("no 404 for an unknown model")
except openai.NotFoundError as e:
    assert e.status_code == 404
print(f"openai client: ok (float and base64, cosine {cos:.7f}, 401, 400, 404)")
PY

echo "== TEI-shaped requests"
A=(-H "Authorization: Bearer $KEY" -H "Content-Type: application/json")
U="http://127.0.0.1:$PORT"
check() {  # name, expected status, curl args...
  local name="$1" want="$2"; shift 2
  local got; got=$(curl -s -o /tmp/serve_check_body -w '%{http_code}' "$@")
  [ "$got" = "$want" ] || { echo "FAIL $name: HTTP $got (want $want): $(head -c 300 /tmp/serve_check_body)"; exit 1; }
  echo "ok   $name: HTTP $got $(head -c 100 /tmp/serve_check_body)"
}
check "/embed"            200 "${A[@]}" -d '{"inputs":["Shares fall","Oil climbs"],"normalize":true}' "$U/embed"
python3 -c "import json; v=json.load(open('/tmp/serve_check_body')); assert len(v)==2 and len(v[0])==384"
check "/embed too long"   422 "${A[@]}" -d "{\"inputs\":\"$(printf 'word %.0s' $(seq 300))\"}" "$U/embed"
check "/embed truncate"   200 "${A[@]}" -d "{\"inputs\":\"$(printf 'word %.0s' $(seq 300))\",\"truncate\":true}" "$U/embed"
check "/tokenize"         200 "${A[@]}" -d '{"inputs":"Héllo wörld","add_special_tokens":true}' "$U/tokenize"
check "/info"             200 "${A[@]}" "$U/info"
check "/predict"          400 "${A[@]}" -d '{"inputs":"x"}' "$U/predict"
check "/v1/sentiment"     200 "${A[@]}" -d '{"inputs":["Shares plunge after profit warning"]}' "$U/v1/sentiment"
grep -q '"label":"negative"' /tmp/serve_check_body || { echo "FAIL sentiment label"; exit 1; }
check "/embed no key"     401 -H "Content-Type: application/json" -d '{"inputs":"x"}' "$U/embed"
check "/health no key"    200 "$U/health"
check "/ready no key"     200 "$U/ready"
check "/metrics"          200 -H "Authorization: Bearer $KEY" "$U/metrics"
grep -q smm_http_requests_total /tmp/serve_check_body
! grep -q "$KEY" "$LOG" || { echo "FAIL: the key is in the log"; exit 1; }

echo "== SIGTERM"
kill -TERM "$PID"
set +e; wait "$PID"; RC=$?; set -e
[ "$RC" = 0 ] || { tail -5 "$LOG"; echo "FAIL: exit $RC after SIGTERM"; exit 1; }
trap - EXIT; rm -f "$KEYFILE"
echo "serve_check: all ok (exit 0 after SIGTERM)"
