# cephfs-csi: the CSI driver binary plus the Ceph clients it runs
# (ceph-fuse, mount.ceph). Build from the repository root:
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     -t quay.io/cephfs-csi/cephfs-csi:TAG .
# Both stages are Debian 12, so the binary runs against the same Ceph
# (Pacific) libraries it was compiled with.

FROM golang:1.26-bookworm AS build
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

FROM debian:bookworm-slim
# ceph-fuse and ceph-common (mount.ceph) mount volumes; librados2 (which the
# driver links) and libcephfs2 are Ceph's client libraries; fuse is the FUSE 2
# userland (fusermount) that Pacific's ceph-fuse, built on libfuse2, goes with,
# as on the development machines (fuse3 would replace it); kmod for
# "modprobe ceph"; mount and util-linux for mount/umount.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ceph-fuse ceph-common libcephfs2 librados2 fuse kmod mount util-linux \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /cephfs-csi /usr/local/bin/cephfs-csi
ENTRYPOINT ["/usr/local/bin/cephfs-csi"]
