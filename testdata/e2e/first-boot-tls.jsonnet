(import 'cluster.libsonnet').cluster('tls', 3)
