package image

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestReadPackageList(t *testing.T) {
	got, err := ReadPackageList(strings.NewReader("# comment\nmount\n\n  ceph-fuse  # why\nlibstdc++6\n"))
	if want := []string{"ceph-fuse", "libstdc++6", "mount"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"two words\n", "Upper\n", "mount\nmount\n", "x\n"} {
		if got, err := ReadPackageList(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: accepted as %v", bad, got)
		}
	}
}

const twoStages = `# syntax
FROM golang:1.26-trixie AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcephfs-dev librados-dev \
    && rm -rf /var/lib/apt/lists/*

FROM debian:trixie-slim
# a comment between continued lines
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ceph-fuse kmod \
        mount; rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["/x"]
`

func TestDockerfileRuntimePackages(t *testing.T) {
	got, err := DockerfileRuntimePackages(strings.NewReader(twoStages))
	if want := []string{"ceph-fuse", "kmod", "mount"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %v, %v; want %v (the last stage's packages only)", got, err, want)
	}
	noInstall := "FROM a AS b\nRUN apt-get install -y x\nFROM c\nRUN true\n"
	if got, err := DockerfileRuntimePackages(strings.NewReader(noInstall)); err == nil {
		t.Fatalf("a runtime stage without apt-get install: got %v", got)
	}
}

// The Dockerfile (for users with a container engine) and hack/image.sh (for
// those without) install the same runtime packages.
func TestDockerfileInstallsPackageList(t *testing.T) {
	df, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer df.Close()
	inDockerfile, err := DockerfileRuntimePackages(df)
	if err != nil {
		t.Fatalf("../../Dockerfile: %v", err)
	}
	pl, err := os.Open("packages.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	inList, err := ReadPackageList(pl)
	if err != nil {
		t.Fatalf("packages.txt: %v", err)
	}
	if !slices.Equal(inDockerfile, inList) {
		t.Fatalf("the Dockerfile's runtime stage installs\n  %v\nbut hack/image/packages.txt lists\n  %v", inDockerfile, inList)
	}
}
