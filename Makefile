# IdP Keeper — build, test and stage the Azure Functions custom-handler app.
#
# Layout rule (research/functions-host.md §3): the Functions host discovers
# functions ONE level under the folder that holds host.json, and the folder name
# is the function name. The repo keeps function folders under functions/, so
# `stage` builds a script root:
#
#   build/app/
#     host.json
#     idpkeeper                 linux/amd64, CGO off, mode 0755 (defaultExecutablePath)
#     ScanTimer/function.json   one folder per functions/<Name>/function.json
#     Report/function.json
#     examples/                 demo snapshot + config (if the repo has examples/)
#     local.settings.json       only for `func start`; never zipped
#
# Relative paths in settings (IDPKEEPER_SNAPSHOT=examples/tenant, …) resolve
# against the handler's working directory, which is the script root
# (customHandler.description.workingDirectory is empty), i.e. build/app locally
# and the package root in Azure — hence examples/ is copied in. The package is
# read-only when run from a zip in Azure: point IDPKEEPER_STATE at a writable
# location there (e.g. /tmp/idpkeeper-state) or use the blob-backed store.

GO      ?= go
BIN     := bin/idpkeeper
APP     := build/app
ZIP     := build/idpkeeper.zip
# Folders under functions/ that contain a function.json; others are ignored.
FUNCTION_JSONS := $(wildcard functions/*/function.json)

.PHONY: build test tools lint infra-check stage package start clean bench report-png

build:
	$(GO) build -o $(BIN) ./functions

# tools: what the tests start besides Go — Azurite (npm) for the Blob-backed
# state. Installed into .ci/node_modules from the committed lock file.
AZURITE := .ci/node_modules/.bin/azurite-blob
tools: $(AZURITE)
$(AZURITE): .ci/package.json .ci/package-lock.json
	npm ci --prefix .ci --no-audit --no-fund --loglevel=error
	@touch $@

# infra-check: offline syntax check of infra/**/*.bicep (tree-sitter grammar;
# no Bicep compiler can be installed from the registries CI reaches — run
# `az bicep build --file infra/main.bicep` where the Azure CLI is available).
INFRA_TOOLS := infra/tools/node_modules/web-tree-sitter
$(INFRA_TOOLS): infra/tools/package.json infra/tools/package-lock.json
	npm ci --prefix infra/tools --no-audit --no-fund --loglevel=error
	@touch $@
infra-check: $(INFRA_TOOLS)
	node infra/tools/check-bicep.cjs

# lint: formatting and vet; part of test.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.ci/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted" >&2; exit 1; fi
	$(GO) vet ./...

# test: the project's test command (README, .ci/run). Azurite is started by
# the tests themselves; a live Service Bus test runs only when its connection
# string is set.
test: tools lint infra-check
	$(GO) test -count=1 ./...

# bench: the documented benchmarks (figures go in issue notes, not in tests).
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./functions/ ./shared/metadata/

# report-png: the screenshot of the example's HTML report in README.md,
# taken by the browser test with the system Chromium.
report-png:
	$(GO) test -count=1 -run '^TestHTMLReportInBrowser$$' ./functions/ -args -update-report-png

# stage: the script root, without zipping (CI can use this; it needs no `zip`).
stage:
	rm -rf $(APP)
	mkdir -p $(APP)
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags "-s -w" -o $(APP)/idpkeeper ./functions
	chmod 0755 $(APP)/idpkeeper
	cp host.json $(APP)/host.json
	@test -n "$(FUNCTION_JSONS)" || { echo "stage: no functions/*/function.json found" >&2; exit 1; }
	@for f in $(FUNCTION_JSONS); do \
		name=$$(basename $$(dirname $$f)); \
		mkdir -p $(APP)/$$name && cp $$f $(APP)/$$name/function.json && echo "staged function $$name"; \
	done
	@if [ -f local.settings.json ]; then cp local.settings.json $(APP)/local.settings.json; echo "staged local.settings.json"; fi
	@if [ -d examples ]; then cp -R examples $(APP)/examples; echo "staged examples/"; fi

# package: stage, then zip the script root. Info-ZIP keeps the Unix mode, so
# the binary stays executable; local.settings.json and local state are left out.
package: stage
	@command -v zip >/dev/null 2>&1 || { echo "package: 'zip' not found; install it, or use 'make stage'" >&2; exit 1; }
	rm -f $(ZIP)
	cd $(APP) && zip -q -r -X ../idpkeeper.zip . -x 'local.settings.json' -x '.idpkeeper-state/*'
	@echo "wrote $(ZIP)"

# start: run the staged app under Core Tools. Without a local.settings.json the
# sample is used (func start needs FUNCTIONS_WORKER_RUNTIME and
# AzureWebJobsStorage — Azurite must be running for the timer trigger).
start: stage
	@if [ ! -f $(APP)/local.settings.json ]; then \
		echo "start: no local.settings.json, using local.settings.sample.json"; \
		cp local.settings.sample.json $(APP)/local.settings.json; \
	fi
	func start --script-root $(APP)

clean:
	rm -rf bin build
