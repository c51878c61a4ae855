# Shared by scripts/test and scripts/run: the Python venv and the local DynamoDB-protocol server.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    python3 -m venv "$VENV"
  fi
  if ! cmp -s "$ROOT/scripts/requirements.txt" "$VENV/.requirements.installed" 2>/dev/null; then
    echo "==> installing Python tools (moto, cfn-lint)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/requirements.txt"
    cp "$ROOT/scripts/requirements.txt" "$VENV/.requirements.installed"
  fi
}

# checkov in a venv of its own: it pins boto3 to a version SAM CLI's cannot share.
CHECKOV_VENV="$ROOT/.venv-checkov"

ensure_checkov_venv() {
  if [ ! -x "$CHECKOV_VENV/bin/python" ]; then
    echo "==> creating $CHECKOV_VENV"
    python3 -m venv "$CHECKOV_VENV"
  fi
  if ! cmp -s "$ROOT/scripts/requirements-checkov.txt" "$CHECKOV_VENV/.requirements.installed" 2>/dev/null; then
    echo "==> installing checkov"
    "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/requirements-checkov.txt"
    cp "$ROOT/scripts/requirements-checkov.txt" "$CHECKOV_VENV/.requirements.installed"
  fi
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_dynamodb PORT: starts the server in the background, sets DYNAMODB_PID, waits until it listens.
start_dynamodb() {
  local port="$1"
  "$VENV/bin/python" "$ROOT/scripts/dynamodb_server.py" --port "$port" >"${DYNAMODB_LOG:-/dev/null}" 2>&1 &
  DYNAMODB_PID=$!
  for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "the local DynamoDB server did not start on port $port" >&2
  return 1
}
