#!/usr/bin/env bash
# Property-based contract testing of openapi.yaml against a running deployment (or `userctl serve`)
# with schemathesis: three bounded runs, as an administrator, as a non-administrator and without
# a token. Any 5xx, any undocumented status, any wrong content type and any body that does not
# match its documented schema fails the run.
#
#   BASE_URL=http://127.0.0.1:3000 ADMIN_TOKEN=... USER_TOKEN=... scripts/schemathesis.sh
#
# Environment:
#   BASE_URL          required: the API's base URL (no trailing path)
#   ADMIN_TOKEN       required: a JWT with the `admin` role
#   USER_TOKEN        required: a JWT without it
#   VENV              Python venv holding schemathesis (default: the project's .venv); created and
#                     schemathesis installed into it when missing
#   MAX_EXAMPLES      generated test cases per operation and phase (default 25)
#   REQUEST_TIMEOUT   seconds per request (default 15)
#   RUN_TIMEOUT       seconds one run may take in all before it is stopped and failed (default 600)
#   SEED              schemathesis seed, for a reproducible run (default: random, printed)
#   REPORT_DIR        where the JUnit reports go (default target/schemathesis)
#
# The API is written to: run it against a disposable table (scripts/run, or a test stack), never
# against real users.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCHEMATHESIS_VERSION="4.32.5"

: "${BASE_URL:?set BASE_URL to the API base URL, e.g. http://127.0.0.1:3000}"
: "${ADMIN_TOKEN:?set ADMIN_TOKEN to an admin JWT (userctl token --user 1)}"
: "${USER_TOKEN:?set USER_TOKEN to a non-admin JWT (userctl token --user 2)}"
VENV="${VENV:-$ROOT/.venv}"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
MAX_EXAMPLES="${MAX_EXAMPLES:-25}"
REQUEST_TIMEOUT="${REQUEST_TIMEOUT:-15}"
RUN_TIMEOUT="${RUN_TIMEOUT:-600}"
SEED="${SEED:-$RANDOM$RANDOM}"
REPORT_DIR="${REPORT_DIR:-$ROOT/target/schemathesis}"
case "$REPORT_DIR" in /*) ;; *) REPORT_DIR="$PWD/$REPORT_DIR" ;; esac
BASE_URL="${BASE_URL%/}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  python3 -m venv "$VENV"
fi
if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null || true)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  echo "==> installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

mkdir -p "$REPORT_DIR"
# schemathesis and hypothesis keep caches (.schemathesis/, .hypothesis/) in the working directory:
# run them from the report directory, not the work tree.
cd "$REPORT_DIR"
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"

# run NAME [extra schemathesis arguments...]: one bounded run; returns its exit status.
run() {
  local name="$1"
  shift
  echo
  echo "==> schemathesis: $name (seed $SEED, at most $MAX_EXAMPLES examples per operation, ${RUN_TIMEOUT}s)"
  local started=$SECONDS status=0
  timeout --kill-after=15 "$RUN_TIMEOUT" \
    "$VENV/bin/schemathesis" run "$ROOT/openapi.yaml" \
    --url "$BASE_URL" \
    --checks "$CHECKS" \
    --max-examples "$MAX_EXAMPLES" \
    --request-timeout "$REQUEST_TIMEOUT" \
    --seed "$SEED" \
    --workers 1 \
    --generation-database none \
    --continue-on-failure \
    --no-color \
    --report junit \
    --report-junit-path "$REPORT_DIR/$name.xml" \
    "$@" || status=$?
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "!! $name: stopped after ${RUN_TIMEOUT}s (RUN_TIMEOUT)" >&2
  fi
  echo "==> $name: exit $status after $((SECONDS - started))s"
  return "$status"
}

failed=()
run admin -H "Authorization: Bearer $ADMIN_TOKEN" || failed+=(admin)
run user -H "Authorization: Bearer $USER_TOKEN" || failed+=(user)
# No Authorization header at all: every operation must answer its documented 401 (MMC: or 404
# when its plugin is off).
run no-token --generation-with-security-parameters false || failed+=(no-token)

echo
if [ "${#failed[@]}" -gt 0 ]; then
  echo "schemathesis: FAILED: ${failed[*]} (reports in $REPORT_DIR; rerun with SEED=$SEED)" >&2
  exit 1
fi
echo "schemathesis: all three runs passed (reports in $REPORT_DIR)"
