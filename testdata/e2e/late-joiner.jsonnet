// TestLateJoiner: five nodes, the last two booted late; plain HTTP (tls:
// false); with node access.
local e2e = import 'cluster.libsonnet';
e2e.cluster('late', 5, tls=false) + e2e.access
