#!/usr/bin/env bash
# The main job on the embedded synthetic world: generate → stats → split → train → index →
# evaluate against baselines → sample feeds. Everything lands in $DEMO_DIR (default out/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=${DEMO_DIR:-out/demo}
rm -rf "$OUT"
mkdir -p "$OUT"
export REELREC_PROGRESS=${REELREC_PROGRESS:-1}

echo "== 1. synthetic world (small)"
$BIN/reelrec synth --size small --seed 0 -o "$OUT/world"
$BIN/reelrec stats "$OUT/world"

echo "== 2. temporal split (last 10% of time is the test period)"
$BIN/reelrec split "$OUT/world" -o "$OUT/split" --method time --test-fraction 0.1

echo "== 3. train the two towers"
$BIN/reelrec train "$OUT/split/train" -o "$OUT/run" --config configs/demo.toml

echo "== 4. index every video"
$BIN/reelrec index "$OUT/run"

echo "== 5. evaluate against baselines (same test set, full ranking, train items masked)"
$BIN/reelrec evaluate "$OUT/run" --test "$OUT/split/test" --k 10,50 --baselines popular,als,id-two-tower

echo "== 6. sample feeds for three users"
$BIN/python - "$OUT" <<'PY'
import sys
import polars as pl
out = sys.argv[1]
users = pl.read_parquet(f"{out}/split/test/interactions.parquet")["user_id"].unique(maintain_order=True)
open(f"{out}/users.txt", "w").write("\n".join(users.head(3).to_list()) + "\n")
PY
$BIN/reelrec recommend "$OUT/run" --users "$OUT/users.txt" -k 10

echo "== 7. simulated A/B on the world's ground truth: reelrec vs MostPopular (HTML report)"
$BIN/reelrec simulate "$OUT/run" --baseline popular --users 1000 --days 1 --seed 0 \
  --report "$OUT/simulation/report.html"
echo "report: $OUT/simulation/report.html"
