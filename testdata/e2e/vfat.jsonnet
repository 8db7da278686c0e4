(import 'cluster.libsonnet').cluster('vfat', 1)
