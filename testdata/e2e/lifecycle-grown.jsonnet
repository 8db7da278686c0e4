// TestLifecycle, day 2: the same cluster grown by k8s04.
(import 'cluster.libsonnet').cluster('k8s0', 4)
