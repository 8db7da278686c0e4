(import 'cluster.libsonnet').cluster('reboot', 3)
