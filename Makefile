# IdP Keeper — build, test and stage the Azure Functions custom-handler app.
#
# The Functions host discovers functions ONE level under the folder that holds
# host.json, and the folder name is the function name. The repo keeps function
# folders under functions/, so the app is staged into a script root by the Go
# packager (infra/tools/funcapp, library shared/funcpackage):
#
#   build/app/   (make stage)        build/local/   (make stage-local)
#     host.json                        host.json
#     idpkeeper       linux/amd64      idpkeeper(.exe)   this machine's OS/arch
#     <Name>/function.json             <Name>/function.json
#     config/  examples/               config/  examples/
#                                      local.settings.json  (executable override)
#
# Azure (Flex Consumption) is Linux x64 only; `func start` runs the handler on
# this machine, so the local stage builds for it and local.settings.json
# points the host at it through
# AzureFunctionsJobHost__customHandler__description__defaultExecutablePath
# (needed on Windows, where the file is idpkeeper.exe).
#
# `make package` writes build/idpkeeper.zip itself (Go archive/zip, handler
# mode 0755, Unix "made by"), the zip azd deploys (azure.yaml dist) — the same
# bytes from macOS, Linux or Windows.

GO      ?= go
BIN     := bin/idpkeeper
APP     := build/app
LOCAL   := build/local
ZIP     := build/idpkeeper.zip
FUNCAPP := $(GO) run ./infra/tools/funcapp

.PHONY: build test tools lint infra-check stage stage-local package start clean bench bench-scale report-png

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

# stage: the linux/amd64 script root Azure runs, as a folder (for
# `func azure functionapp publish`, or to look at).
stage:
	$(FUNCAPP) stage -dir $(APP)

# stage-local: the script root for `func start` on this machine (macOS,
# Windows, Linux, any arch), with local.settings.json (yours, or the sample).
stage-local:
	$(FUNCAPP) stage -native -dir $(LOCAL)

# package: the deployment zip (what azd deploys; see azure.yaml).
package:
	$(FUNCAPP) package -o $(ZIP)

# start: run the local stage under Core Tools. Azurite must be running
# (AzureWebJobsStorage and IDPKEEPER_STATE); Service Bus: the emulator or a
# namespace (docs/deploy.md).
start: stage-local
	func start --script-root $(LOCAL)

clean:
	rm -rf bin build

# bench-scale: scans of the benchmark tenants S, M and L (shared/benchtenant)
# against the fake with Graph's latency and published throttling limits; one
# line per tenant (wall time, requests, 429s, critical path, peak RSS, CPU,
# allocations). Minutes, not seconds: kept out of `make test`.
bench-scale:
	$(GO) test -run='^$$' -bench=ScanScale -benchtime=1x -timeout=60m ./shared/benchtenant/
