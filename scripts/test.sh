#!/usr/bin/env bash
# The one test command (make test). Installs what the tests need when it is
# missing, then runs lint, the whole suite against SQLite AND PostgreSQL (the
# tests start their own throwaway PostgreSQL server), and the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }

have_pg() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null; }

need=()
have_pg || need+=(postgresql)
# The browser test drives Debian's chromium at this path.
[ -x /usr/bin/chromium ] || need+=(chromium)
# The letter tests read the PDFs back with poppler's pdftotext.
command -v pdftotext >/dev/null || need+=(poppler-utils)
command -v make >/dev/null || need+=(make)
# -race needs cgo, and cgo needs a C compiler.
command -v gcc >/dev/null || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${need[*]} (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]} (PostgreSQL server binaries, chromium for the browser test, poppler-utils for the letter tests, make, a C compiler for -race)." >&2
    echo "Install them, e.g. 'sudo apt-get install ${need[*]}', and run make test again." >&2
    exit 1
  fi
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "running as root needs the 'postgres' system user to start PostgreSQL (install Debian's postgresql package)" >&2
  exit 1
fi

# The PostgreSQL half of the suite and the browser test must never be
# skipped silently here.
export FAIRLEAD_REQUIRE_POSTGRES=1
export FAIRLEAD_REQUIRE_BROWSER=1

say "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...

say "test suite on SQLite and PostgreSQL"
go test -count=1 -timeout 20m ./...

say "race detector on the concurrent packages"
go test -race -count=1 -timeout 20m $(make -s -f Makefile print-race-pkgs)
