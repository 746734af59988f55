#!/usr/bin/env bash
# Installs what the test suite talks to besides the machine's own services, so that the
# README's test command works on a fresh machine. Idempotent: what is there is kept.
#   - Python peers: aiosmtpd (the SMTP receiver of tests/tests/ens.rs) and hl7
#     (python-hl7's mllp_send, a second MLLP client to test against), pyftpdlib with
#     pyopenssl (the FTP and FTPS server of tests/tests/ftp.rs) and asyncssh
#     with bcrypt (its SFTP server, and an encrypted client key for the SFTP tests).
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
