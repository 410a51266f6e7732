# cephfs-csi — a CSI driver for CephFS subvolumes.
#   make run    install what is missing, boot the embedded Ceph cluster, run the driver
#   make test   everything CI checks (lint, the Helm chart, unit, integration, csi-sanity, the seed cluster, the short benchmark,
#               e2e, the kubelet and kernel-client e2e, the Reef/Tentacle matrix, the image)

SHELL        := /bin/bash
BUILD        := $(CURDIR)/_build
CLUSTER_DIR  ?= $(BUILD)/cluster
# a second cluster for tests that break things (stop the mon, kill clients)
FAULT_DIR    ?= $(BUILD)/cluster-fault
# a cluster shaped like the seed's own Ceph (hack/cluster.sh --profile seed) for make test-seed
SEED_DIR     ?= $(BUILD)/cluster-seed
RUN_DIR      ?= $(BUILD)/run
BIN          := $(BUILD)/bin/cephfs-csi
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS      := -X github.com/cephfs-csi/cephfs-csi/pkg/driver.Version=$(VERSION)
# Go as installed on the development machines, also when /usr/local/go/bin is not on PATH.
export PATH  := $(PATH):/usr/local/go/bin
GO           ?= go
GOTEST_FLAGS ?= -count=1 -timeout 30m
ENDPOINT     := unix://$(RUN_DIR)/csi.sock
# Ceph releases make test-matrix runs the suite against (besides the host's Pacific).
MATRIX_RELEASES ?= reef tentacle

.PHONY: all build deps run test unit integration sanity lint chart-test fuzz bench bench-short e2e e2e-kubelet e2e-kernel test-matrix test-seed image image-docker cluster-up cluster-down cluster-wipe test-clusters clean

all: build

deps:
	@hack/install-deps.sh

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cephfs-csi

IMAGE ?= quay.io/cephfs-csi/cephfs-csi:$(VERSION)

# Without a container engine: a docker-archive tarball in _build/image/ for docker/podman load,
# ctr images import or kind load image-archive (hack/image.sh; prints its path).
image:
	@GO=$(GO) hack/image.sh --version $(VERSION) --tag $(IMAGE)

# The same image through the Dockerfile, where a container engine runs.
image-docker:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

cluster-up: deps
	@hack/cluster.sh up $(CLUSTER_DIR)

cluster-down:
	@hack/cluster.sh down $(CLUSTER_DIR)
	@if [ -d $(FAULT_DIR) ]; then hack/cluster.sh down $(FAULT_DIR); fi
	@if [ -d $(SEED_DIR) ]; then hack/cluster.sh down $(SEED_DIR); fi

cluster-wipe:
	@hack/cluster.sh wipe $(CLUSTER_DIR)
	@if [ -d $(FAULT_DIR) ]; then hack/cluster.sh wipe $(FAULT_DIR); fi
	@if [ -d $(SEED_DIR) ]; then hack/cluster.sh wipe $(SEED_DIR); fi

test-clusters: cluster-up
	@hack/cluster.sh up $(FAULT_DIR) --name fault

# Runs the driver in the foreground (Ctrl-C stops it) on the embedded cluster.
run: build cluster-up
	@$(GO) run ./hack/runconfig $(CLUSTER_DIR) $(RUN_DIR)
	@echo "cephfs-csi: listening on $(ENDPOINT); in another terminal, as root, in $(CURDIR):"
	@echo "  go run ./hack/csic create demo 1Gi"
	@echo "  go run ./hack/csic mount demo /mnt/demo"
	@echo "  df -h /mnt/demo"
	@echo "(go run ./hack/csic -h: every command; README.md: \"First five minutes\")"
	@exec $(BIN) --mode=all --endpoint=$(ENDPOINT) --nodeid=$$(hostname) \
		--cluster-config=$(RUN_DIR)/config.json --controller-secret-dir=$(RUN_DIR)/controller-secret -v=2

# tests/clusterdesc and hack/image are modules of their own (outside ./...): vetted and tested here
# (tests/chart, another, is vetted here and tested by chart-test).
lint: deps
	$(GO) vet ./...
	cd tests/e2e && $(GO) vet ./...
	cd tests/chart && $(GO) vet ./...
	cd tests/clusterdesc && $(GO) vet ./... && $(GO) test -count=1 ./...
	cd hack/image && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(GO) test -count=1 ./tests/imports/
	shellcheck -x .ci/run $$(find . \( -path ./_build -o -path ./.git \) -prune -o -name '*.sh' -print | sort)
	@out=$$(gofmt -l cmd pkg tests hack); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# The Helm chart (charts/cephfs-csi), in tests/chart, a module of its own (Helm and kustomize as libraries,
# pinned in tests/chart/go.mod): rendered for several value sets and checked value by value, decoded strictly
# into the API types, linted as `helm lint --strict` does, and compared with kustomize's render of deploy/csi,
# deploy/csi-builtin and both without the mount holder; then the helm CLI itself (`go tool helm`, the
# version go.mod pins, built once into Go's build cache) lints it strictly. The e2e applies its renders too
# (server-side dry run).
chart-test:
	cd tests/chart && $(GO) vet ./... && $(GO) test -count=1 ./...
	cd tests/chart && $(GO) tool helm lint --strict ../../charts/cephfs-csi && \
		$(GO) tool helm lint --strict ../../charts/cephfs-csi \
			--set builtinRegistration=true,mountHolder.enabled=false,storageClass.create=true,volumeSnapshotClass.create=true

# The tests that need no cluster; those that need one skip without CEPHFS_CSI_CLUSTER.
unit: deps
	$(GO) test $(GOTEST_FLAGS) ./...

# Tests against the embedded clusters (started or reused), csi-sanity included. On a failure the failed tests (or
# a timeout's panic, a build's errors) with their own lines, klog's left out, are printed again last: CI shows only
# the tail, after dozens of "ok".
integration: deps test-clusters
	@set -o pipefail; CEPHFS_CSI_CLUSTER=$(CLUSTER_DIR) CEPHFS_CSI_FAULT_CLUSTER=$(FAULT_DIR) \
		$(GO) test $(GOTEST_FLAGS) ./... 2>&1 | tee $(BUILD)/integration.log || { \
		echo "failed tests (all in $(BUILD)/integration.log):"; \
		grep -E -A 12 '^(\s*--- FAIL|panic: |# )' $(BUILD)/integration.log | grep -vE '^([IWEF][0-9]{4} |ok |\? )' | head -40; exit 1; }

sanity: deps cluster-up
	CEPHFS_CSI_CLUSTER=$(CLUSTER_DIR) $(GO) test $(GOTEST_FLAGS) -v ./tests/sanity/ 2>&1 | tee $(BUILD)/sanity.log | grep -E '^(Ran |PASS|FAIL|ok|--- )|Passed|Failed' || true
	@grep -q '^ok' $(BUILD)/sanity.log

fuzz:
	$(GO) test ./pkg/volumeid/ -run '^$$' -fuzz FuzzDecodeVolume -fuzztime 20s
	$(GO) test ./pkg/volumeid/ -run '^$$' -fuzz FuzzDecodeSnapshot -fuzztime 20s
	$(GO) test ./pkg/volumeid/ -run '^$$' -fuzz FuzzDecodeCephCSI -fuzztime 20s

# The driver against the floor of what each call must do (go-ceph, ceph-fuse and mount(2) straight), on the
# embedded cluster: hack/bench.sh starts the driver in _build/bench and runs hack/csibench on its socket, which
# prints a table and one JSON line (≈ 2 min; flags of its own: make bench BENCH_FLAGS='--count 100').
bench: build cluster-up
	@GO=$(GO) hack/bench.sh $(CLUSTER_DIR) $(BIN) $(BUILD)/bench $(BENCH_FLAGS)

# The same with small counts, 16 MiB of data and no scale step (≈ 15 s): make test runs it so that it keeps
# working. Numbers are reported, never asserted.
bench-short: build cluster-up
	@GO=$(GO) hack/bench.sh --short $(CLUSTER_DIR) $(BIN) $(BUILD)/bench $(BENCH_FLAGS)

# The driver on a cluster shaped like the seed's own Ceph, booted (≈ 20 s) or reused in _build/cluster-seed:
# three BlueStore OSDs, the EC 2+1 data pool myfs-data-ec, a standby-replay MDS and a standby mgr
# (hack/cluster.sh up DIR --profile seed). tests/seed: volumes in the EC pool, their snapshots and clones.
# SEED_SKIP: a -skip pattern (e.g. `make test-seed SEED_SKIP=TestOSDRestart` on a machine short of time).
SEED_SKIP ?=
test-seed: deps
	@hack/cluster.sh up $(SEED_DIR) --name seed --profile seed
	CEPHFS_CSI_SEED_CLUSTER=$(SEED_DIR) $(GO) test $(GOTEST_FLAGS) $(if $(SEED_SKIP),-skip '$(SEED_SKIP)') -v ./tests/seed/ 2>&1 | tee $(BUILD)/seed.log | \
		grep -E '^(=== RUN|--- |ok|FAIL|PASS)|_test.go' ; exit $${PIPESTATUS[0]}

# Kubernetes end-to-end test, as root: etcd, kube-apiserver, kube-controller-manager, the CSI sidecars and
# snapshot-controller (built from tests/e2e/go.mod by hack/e2e-tools.sh, cached machine-wide in /var/cache/cephfs-csi/e2e-bin), the
# driver and the embedded cluster in _build/cluster-e2e. Component logs: _build/e2e-logs.
e2e: deps
	@bin=$$(GO=$(GO) hack/e2e-tools.sh) && cd tests/e2e && \
		CEPHFS_CSI_E2E_BIN=$$bin $(GO) test -v -count=1 -timeout 20m ./... 2>&1 | tee $(BUILD)/e2e.log | \
		grep -E '^(=== RUN|--- |ok|FAIL|PASS)|wall time|e2e_test.go' ; exit $${PIPESTATUS[0]}

# A real kubelet with containerd and runc (cgroupfs, a CNI bridge on a private subnet) beside the e2e control
# plane and kube-scheduler, running the driver the way users do: the image (built first: make image) installed
# from deploy/csi-builtin, the sidecars and PostgreSQL 15 as images assembled locally (hack/e2e-kubelet.sh);
# deploy/examples' PostgreSQL Deployment with pgbench, expansion, RWX, ROX from a snapshot, a kubelet restart,
# the node plugin pod deleted (without, then with the mount holder of deploy/mount-holder, and a rolling
# update with it), and nothing left after. Only one may run per machine (the kubelet keeps fixed
# host paths). Logs: _build/e2e-kubelet/logs.
e2e-kubelet: deps image
	@bin=$$(GO=$(GO) hack/e2e-tools.sh) && cd tests/e2e && \
		CEPHFS_CSI_E2E_BIN=$$bin CEPHFS_CSI_E2E_KUBELET=1 $(GO) test -v -count=1 -timeout 25m -run TestKubelet ./... 2>&1 | \
		tee $(BUILD)/e2e-kubelet.log | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|kubelet_test.go' ; exit $${PIPESTATUS[0]}

# The kernel client for real: Debian 12's kernel (it has ceph.ko; this machine's has not) boots in QEMU
# (hack/kernel-vm.sh: the kernel package and an initramfs cached in /var/cache/cephfs-csi/kernel), the
# driver's node service runs inside it with the kernel mounter, and the test drives it over CSI; the guest
# and an embedded cluster share a bridge in a network namespace of the test's own (_build/cluster-kernel).
# Logs: _build/kernel-e2e.
e2e-kernel: deps
	@hack/kernel-vm.sh prepare >/dev/null
	CEPHFS_CSI_E2E_KERNEL=1 $(GO) test -v -count=1 -timeout 20m -run TestKernel ./tests/kernel/ 2>&1 | \
		tee $(BUILD)/e2e-kernel.log | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|_test.go' ; exit $${PIPESTATUS[0]}

# The suite against Reef and Tentacle clusters (daemons from Debian roots that hack/ceph-root.sh builds once
# and caches in /var/cache/cephfs-csi/roots): with the host-built driver (a Pacific client) and with the driver
# built inside each root against its own Ceph. Logs in _build/matrix.
test-matrix: deps
	@GO=$(GO) GOTEST_FLAGS="$(GOTEST_FLAGS)" hack/test-matrix.sh $(MATRIX_RELEASES)

test: lint chart-test integration test-seed bench-short e2e e2e-kubelet e2e-kernel test-matrix image

clean:
	-@hack/cluster.sh wipe $(CLUSTER_DIR) 2>/dev/null
	-@hack/cluster.sh wipe $(FAULT_DIR) 2>/dev/null
	-@hack/cluster.sh wipe $(BUILD)/cluster-e2e 2>/dev/null
	-@hack/cluster.sh wipe $(SEED_DIR) 2>/dev/null
	-@for r in $(MATRIX_RELEASES); do hack/cluster.sh wipe $(BUILD)/cluster-$$r 2>/dev/null; \
		hack/cluster.sh wipe $(BUILD)/cluster-$$r-fault 2>/dev/null; done
	rm -rf $(BUILD)
