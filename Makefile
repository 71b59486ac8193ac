# orch: thin targets over dotnet. `make help` lists them.
DOTNET  ?= dotnet
CONFIG  ?= Release
RID     ?= linux-x64
# orch is published ReadyToRun (precompiled): a run starts without waiting for the JIT.
ORCH    := artifacts/orch/orch
AGENT   := artifacts/orch-agent/orch-agent
RESULTS := TestResults
SOURCES := $(shell find cmd pkg -name '*.cs' -o -name '*.csproj' 2>/dev/null)
# The release build: self-contained (a host needs no .NET) and precompiled together with the
# framework (composite ReadyToRun), so a process starts with little JIT work. Its own configuration
# keeps its intermediate files apart from the plain builds'. It takes minutes to make.
RELEASE := artifacts/release
RELEASE_FLAGS := -c Composite -p:Optimize=true -r $(RID) --self-contained true -p:PublishReadyToRun=true -p:PublishReadyToRunComposite=true -nologo -v q

.PHONY: help build run agent release test test-deps bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

build: ## build everything
	$(DOTNET) build Orchestrator.sln -c $(CONFIG) -nologo -v q

$(ORCH): $(SOURCES)
	$(DOTNET) publish cmd/orch -c $(CONFIG) -r $(RID) --self-contained false -p:PublishReadyToRun=true -o artifacts/orch -nologo -v q

agent: $(AGENT) ## publish the agent host to artifacts/orch-agent/orch-agent (for --backend redis://...)

$(AGENT): $(SOURCES)
	$(DOTNET) publish cmd/orch-agent -c $(CONFIG) -r $(RID) --self-contained false -p:PublishReadyToRun=true -o artifacts/orch-agent -nologo -v q

release: $(RELEASE)/orch/orch $(RELEASE)/orch-agent/orch-agent ## self-contained composite build of orch and orch-agent to artifacts/release (slow)

$(RELEASE)/orch/orch: $(SOURCES)
	$(DOTNET) publish cmd/orch $(RELEASE_FLAGS) -o $(RELEASE)/orch

$(RELEASE)/orch-agent/orch-agent: $(SOURCES)
	$(DOTNET) publish cmd/orch-agent $(RELEASE_FLAGS) -o $(RELEASE)/orch-agent

run: $(ORCH) ## word count of the sample corpus on the embedded default; prints the result
	$(ORCH) run pipelines/wordcount.yml -p output=out/wordcount.json
	@cat out/wordcount.json

test: test-deps ## install what the tests need, run every test, print "N passed, N failed"
	@rm -rf $(RESULTS)
	$(DOTNET) build Orchestrator.sln -c $(CONFIG) -nologo -v q
	$(DOTNET) test --solution Orchestrator.sln -c $(CONFIG) --no-build --report-trx --results-directory $(abspath $(RESULTS)); \
	  status=$$?; scripts/test-summary.sh $(RESULTS) && exit $$status

test-deps: ## the system packages tests use (installed with apt-get when missing and running as root)
	@scripts/install-deps.sh test

bench: release ## performance figures of the release build against peers (see bench/README.md)
	@scripts/install-deps.sh bench
	ORCH=$(RELEASE)/orch/orch ORCH_AGENT=$(RELEASE)/orch-agent/orch-agent $(DOTNET) run --project bench/Orch.Bench -c Release -- $(BENCH_ARGS)

clean: ## remove build output, test results and local run records
	$(DOTNET) clean Orchestrator.sln -nologo -v q
	rm -rf $(RESULTS) out .orch artifacts
