// TestLifecycle, day 2: the same cluster grown by k8s04.
(import 'cluster.libsonnet').lifecycle(4)
