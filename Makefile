# fairlead — build and test targets. `make test` is what CI runs.
GO ?= go
RACE_PKGS := ./internal/jobs/... ./internal/web/... ./internal/store/... ./internal/auth/... ./internal/id/... ./internal/policy/... ./internal/app/... ./internal/consent/... ./internal/keyring/... ./internal/capture/... ./internal/mail/... ./internal/sms/... ./internal/audit/... ./internal/letter/... ./internal/track/... ./internal/lead/... ./internal/importer/...

.PHONY: help build run test lint vet race unit bench fuzz

help: ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build ./fairlead
	$(GO) build -o fairlead ./cmd/fairlead

run: ## run fairlead on embedded SQLite (same as the README's first command)
	$(GO) run ./cmd/fairlead serve

test: ## everything CI checks: lint, the whole suite on SQLite and PostgreSQL, race detector
	./scripts/test.sh

lint: vet ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit: ## the suite only (PostgreSQL half skipped if no server binaries are installed)
	$(GO) test -count=1 ./...

race: ## race detector on the packages with concurrency
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)

bench: ## Go benchmarks (see docs/benchmarks.md for the fairlead bench subcommands)
	$(GO) test -run '^$$' -bench . -benchmem ./...

print-race-pkgs:
	@echo $(RACE_PKGS)
