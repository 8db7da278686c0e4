// TestLifecycle, day 1: k8s01-k8s03 (the cluster name 'k8s0' makes the
// blog's node names). lifecycle-grown.jsonnet adds k8s04.
(import 'cluster.libsonnet').lifecycle(3)
