# Shared by scripts/test.sh: make sure headless Chromium is installed, for the test that renders
# report.html (tests/report_html.rs), installing Debian's chromium package when it is missing.
# Source it after scripts/lib/mariadb.sh (for log, die, have, as_root), then call
# ensure_chromium.
# shellcheck shell=bash

readonly CHROMIUM_INSTALL_LOG=${TMPDIR:-/tmp}/rekey-chromium-install.log

ensure_chromium() {
    if have chromium || have chromium-browser; then
        return 0
    fi
    have apt-get || die "chromium is not installed and apt-get is not available: install Chromium, or set REKEY_CHROMIUM to its binary"
    log "installing chromium (Debian package; log in $CHROMIUM_INSTALL_LOG)"
    {
        as_root apt-get update -qq &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    } >"$CHROMIUM_INSTALL_LOG" 2>&1 || die "installing chromium failed; see $CHROMIUM_INSTALL_LOG"
    have chromium || die "chromium was installed but is not on PATH"
}
