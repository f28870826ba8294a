#!/usr/bin/env bash
# Best effort: install Debian's chromium for the browser test when it is missing and we can
# (root with apt-get). Never fails: without chromium the browser test skips with a reason.
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser test (apt-get)..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
        >/tmp/cohortflow-chromium-install.log 2>&1 \
        || echo "chromium could not be installed; the browser test will be skipped"
fi
exit 0
