(import 'cluster.libsonnet').cluster('late', 5)
