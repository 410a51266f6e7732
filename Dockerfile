# cephfs-csi: the CSI driver binary plus the Ceph clients it runs
# (ceph-fuse, mount.ceph). Build from the repository root:
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     -t quay.io/cephfs-csi/cephfs-csi:TAG .
# Both stages are Debian 13 (trixie), so the binary runs against the same
# Ceph (Reef, 18.2) libraries it was compiled with. Without a container
# engine, `make image` (hack/image.sh) builds the same image as a tarball.

FROM golang:1.26-trixie AS build
# Headers and libraries go-ceph compiles and links against (cgo).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcephfs-dev librados-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# go.mod replaces the test-only tests/clusterdesc module with its directory.
COPY go.mod go.sum ./
COPY tests/clusterdesc/go.mod tests/clusterdesc/
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath \
    -ldflags "-X github.com/cephfs-csi/cephfs-csi/pkg/driver.Version=${VERSION}" \
    -o /cephfs-csi ./cmd/cephfs-csi

FROM debian:trixie-slim
# The packages of hack/image/packages.txt (a test in hack/image fails when
# the two differ): ceph-fuse and ceph-common (mount.ceph) mount volumes;
# librados2 and libcephfs2 (both linked by the driver) are Ceph's client
# libraries; fuse3 is the FUSE userland (fusermount3) of Reef's ceph-fuse,
# built on libfuse3; kmod for "modprobe ceph"; mount and util-linux for
# mount/umount.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ceph-fuse ceph-common libcephfs2 librados2 fuse3 kmod mount util-linux \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /cephfs-csi /usr/local/bin/cephfs-csi
ARG VERSION=dev
LABEL org.opencontainers.image.source="https://github.com/cephfs-csi/cephfs-csi" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.description="cephfs-csi, a CSI driver for CephFS subvolumes, with Ceph Reef clients (Debian 13)"
ENTRYPOINT ["/usr/local/bin/cephfs-csi"]
