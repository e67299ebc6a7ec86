# Sourced by scripts/serve, scripts/test and scripts/bench: install what cdnpanel needs on a
# Debian machine (idempotent, quick when everything is there already).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_debian_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    # Packages such as nginx start a system service when installed; cdnpanel's tests start
    # their own on loopback ports, so service starts are refused while this install runs.
    local policy=/usr/sbin/policy-rc.d added_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy"
        added_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || { [ -n "$added_policy" ] && $sudo rm -f "$policy"; return 1; }
    [ -n "$added_policy" ] && $sudo rm -f "$policy"
    return 0
}

ensure_venv() {
    local python=""
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            python=$candidate
            break
        fi
    done
    [ -n "$python" ] || { echo "cdnpanel needs Python >= 3.11" >&2; exit 1; }
    if [ ! -x .venv/bin/python ]; then
        say "creating .venv with $($python --version)"
        "$python" -m venv .venv || { ensure_debian_packages python3-venv; "$python" -m venv .venv; }
    fi
    local stamp=.venv/.cdnpanel-installed want
    want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "installing cdnpanel and its pinned dependencies into .venv"
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q -e '.[dev]'
        echo "$want" > "$stamp"
    fi
}

# A PostgreSQL the tests can use without a password. Uses the machine's server on 5432 when it
# trusts local connections; otherwise starts a private throwaway cluster on 127.0.0.1:55432.
ensure_test_postgres() {
    if [ -n "${CDNPANEL_TEST_POSTGRES_URL:-}" ]; then return 0; fi
    ensure_debian_packages postgresql
    if PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
        export CDNPANEL_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        return 0
    fi
    local bin dir=${CDNPANEL_PG_DIR:-/tmp/cdnpanel-test-pg} port=55432 as=()
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    if [ "$(id -u)" -eq 0 ]; then as=(runuser -u postgres --); fi
    if [ ! -s "$dir/PG_VERSION" ]; then
        say "initialising a throwaway PostgreSQL cluster in $dir"
        mkdir -p "$dir"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
        "${as[@]}" "$bin/initdb" -D "$dir" -A trust -U postgres >/dev/null
    fi
    if ! PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p $port -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
        say "starting PostgreSQL on 127.0.0.1:$port"
        "${as[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    fi
    export CDNPANEL_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
}
