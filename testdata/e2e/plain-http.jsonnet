(import 'cluster.libsonnet').cluster('plain', 3, tls=false)
