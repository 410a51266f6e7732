// Package chart holds the tests of the Helm chart in charts/cephfs-csi: it
// renders the chart with Helm's own library for several value sets, checks
// what each value changes, lints it as `helm lint --strict` does, and checks
// that the default render agrees with kustomize's render of deploy/csi (and
// of its variants). A module of its own, like tests/e2e, so that the driver's
// module never depends on Helm or kustomize.
package chart
