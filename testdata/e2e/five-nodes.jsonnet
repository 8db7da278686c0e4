(import 'cluster.libsonnet').cluster('five', 5)
