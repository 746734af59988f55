#!/usr/bin/env bash
# Installs what the test suite talks to besides the machine's own services, so that the
# README's test command works on a fresh machine. Idempotent: what is there is kept.
#   - Python peers: aiosmtpd (the SMTP receiver of tests/tests/ens.rs) and hl7
#     (python-hl7's mllp_send, a second MLLP client to test against), pyftpdlib with
#     pyopenssl (the FTP and FTPS server of tests/tests/ftp.rs) and asyncssh
#     with bcrypt (its SFTP server, and an encrypted client key for the SFTP tests).
#   - Debian's chromium and chromium-driver (the headless browser of tests/tests/console.rs).
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }

python_peers=(aiosmtpd:aiosmtpd hl7:hl7 pyftpdlib:pyftpdlib OpenSSL:pyopenssl asyncssh:asyncssh bcrypt:bcrypt)
if command -v python3 >/dev/null; then
    for peer in "${python_peers[@]}"; do
        module=${peer%%:*} package=${peer#*:}
        if ! python3 -c "import $module" 2>/dev/null; then
            log "installing $package (PyPI)"
            python3 -m pip install --quiet --disable-pip-version-check "$package" \
                || log "could not install $package: the tests that need it will say SKIPPED"
        fi
    done
else
    log "no python3: the tests that need Python peers will say SKIPPED"
fi

# Debian's Chromium and ChromeDriver, for the console tests (tests/tests/console.rs).
if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    :
elif command -v apt-get >/dev/null; then
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo -n)
    log "installing chromium and chromium-driver (Debian)"
    { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver; } >/dev/null 2>&1 \
        || log "could not install chromium and chromium-driver: the console tests will say SKIPPED"
else
    log "no apt-get: install chromium and chromedriver to run the console tests"
fi
