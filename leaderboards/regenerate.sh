#!/usr/bin/env bash
# Regenerate a committed leaderboard from a real grid: run (or resume) the grid, write every format
# with its figures and per-method pages, and take a screenshot of the HTML page in headless Chromium.
#
#   leaderboards/regenerate.sh [RESULTS [OUT [mtlbench run options...]]]
#
# Defaults: RESULTS=results/synthetic, OUT=leaderboards/synthetic, options "--methods all --seeds 5"
# (the default benchmark's settings for every registered method). Done runs are skipped, so a
# killed regeneration resumes. Writes OUT.{txt,md,tex,csv,html}, OUT-cd.png, OUT-methods/*.html
# and the screenshot OUT.png (Chromium from Debian's package, installed where missing and possible).
# Delta_m% is stated against ls and against stl (the single-task models; a grid without stl runs
# says so in the report's notes).
set -euo pipefail
cd "$(dirname "$0")/.."
RESULTS=${1:-results/synthetic}
OUT=${2:-leaderboards/synthetic}
shift $(( $# > 2 ? 2 : $# ))
OPTIONS=("$@")
if [ ${#OPTIONS[@]} -eq 0 ]; then OPTIONS=(--methods all --seeds 5); fi
BIN=${BIN:-.venv/bin}
"$BIN/mtlbench" run "${OPTIONS[@]}" --results "$RESULTS" --no-leaderboard
"$BIN/mtlbench" report "$RESULTS" --baseline ls --reference stl --out "$OUT"
"$BIN/python" tools/headless_chromium.py "$OUT.html" "$OUT.png" --width 1280
