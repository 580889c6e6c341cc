#!/usr/bin/env bash
# The project's test command: bash tests/run.sh [pytest args...]
#
# Works on a fresh Debian 12 machine (root or sudo), non-interactively, and is
# idempotent: (1) installs the Debian packages the tests need (real Dovecot,
# PostgreSQL, ...) when missing, (2) creates .venv and installs the project with
# its test extras, (3) runs pytest from the repository root and exits with its
# exit code. The tests start their own servers on free high ports in temp
# folders; Debian's own services are never used.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT="$(pwd)"

say() { printf '==> %s\n' "$*"; }

# --------------------------------------------------------------------------
# (1) Debian packages the test suite needs.
# >>> ADD PACKAGES HERE (one Debian package name per entry, e.g. chromium) <<<
APT_PACKAGES=(
    dovecot-imapd # real IMAP server (tests/servers.py: DovecotServer)
    postgresql    # PostgreSQL server binaries (tests/servers.py: PostgresServer)
    openssl       # self-signed certificate for the TLS tests
    chromium      # real browser for the web UI end-to-end test (tests/web/test_e2e.py)
    systemd       # systemd-analyze checks the hardening of deploy/systemd/*.service
)
# --------------------------------------------------------------------------

if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    SUDO=()
fi

is_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

pick_python() {
    local candidate
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

VENV_PY="$REPO_ROOT/.venv/bin/python"
wanted=("${APT_PACKAGES[@]}")
if ! [[ -x "$VENV_PY" ]] && ! PY="$(pick_python)"; then
    wanted+=(python3 python3-venv)
elif ! [[ -x "$VENV_PY" ]] && ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    wanted+=(python3-venv) # Debian's python3 ships venv without ensurepip
fi

missing=()
for pkg in "${wanted[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
        echo "tests/run.sh: need root or sudo to install: ${missing[*]}" >&2
        exit 2
    fi
    say "installing Debian packages: ${missing[*]}"
    # Keep Debian from starting its own dovecot/postgresql services during the
    # install (the tests run their own instances on free high ports anyway).
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [[ ! -e $policy ]]; then
        "${SUDO[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        added_policy=1
        trap '"${SUDO[@]}" rm -f "$policy"' EXIT
    fi
    apt_get=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    "${apt_get[@]}" update -qq
    "${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if ((added_policy)); then
        "${SUDO[@]}" rm -f "$policy"
        trap - EXIT
    fi
else
    say "Debian packages present: ${wanted[*]}"
fi

# --------------------------------------------------------------------------
# (2) Virtualenv with the project and its test extras.
if ! [[ -x "$VENV_PY" ]] || ! "$VENV_PY" -c 'import sys' >/dev/null 2>&1; then
    PY="$(pick_python)"
    say "creating .venv with $PY ($("$PY" --version 2>&1))"
    rm -rf .venv
    "$PY" -m venv .venv
fi

if ! "$VENV_PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "tests/run.sh: .venv runs $("$VENV_PY" --version 2>&1); the project needs Python 3.11" >&2
    exit 2
fi

# Re-install only when pyproject.toml changed (the install is editable, so code
# changes need nothing). SENDIASS_FORCE_PIP=1 forces it.
stamp=.venv/.sendiass-installed
want_stamp="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ ${SENDIASS_FORCE_PIP:-0} != 0 || ! -f $stamp || "$(cat "$stamp")" != "$want_stamp" ]]; then
    say "pip install -e '.[test]'"
    log=.venv/pip-install.log
    if ! "$VENV_PY" -m pip install --disable-pip-version-check -e '.[test]' >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "tests/run.sh: pip install failed (full log: $log)" >&2
        exit 2
    fi
    printf '%s\n' "$want_stamp" >"$stamp"
else
    say "virtualenv up to date (.venv)"
fi

# --------------------------------------------------------------------------
# (3) The tests.
say "pytest $*"
exec "$VENV_PY" -m pytest "$@"
