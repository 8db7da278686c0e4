(import 'cluster.libsonnet').cluster('late', 3)
