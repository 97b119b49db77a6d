# Convenience targets; the scripts under scripts/ are the source of truth.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -s -w -X github.com/hyper-nixos/hvctl/pkg/cmd/versioncmd.Version=$(VERSION) -X github.com/hyper-nixos/hvctl/pkg/cmd/versioncmd.Commit=$(COMMIT)
LINKS   := vmctl isoctl netctl auditctl

.PHONY: build demo test docs bench clean
build:
	mkdir -p bin
	go build -trimpath -ldflags '$(LDFLAGS)' -o bin/hvctl ./cmd/hvctl
	for l in $(LINKS); do ln -sf hvctl bin/$$l; done

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

docs:
	go run ./cmd/gen-docs

bench: build
	bash bench/list.sh

clean:
	rm -rf bin
