# Shared by scripts/test and scripts/run: the Python venv and the local DynamoDB-protocol server.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

# venv_with DIR REQUIREMENTS WHAT: a venv at DIR holding REQUIREMENTS, installed again only
# when the file changes.
venv_with() {
  local dir="$1" requirements="$2" what="$3"
  if [ ! -x "$dir/bin/python" ]; then
    echo "==> creating $dir"
    python3 -m venv "$dir"
  fi
  if ! cmp -s "$requirements" "$dir/.requirements.installed" 2>/dev/null; then
    echo "==> installing $what"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$dir/.requirements.installed"
  fi
}

ensure_venv() {
  venv_with "$VENV" "$ROOT/scripts/requirements.txt" "Python tools (moto, cfn-lint)"
}

# checkov in a venv of its own: it pins boto3 to a version SAM CLI's cannot share.
CHECKOV_VENV="$ROOT/.venv-checkov"

ensure_checkov_venv() {
  venv_with "$CHECKOV_VENV" "$ROOT/scripts/requirements-checkov.txt" checkov
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
