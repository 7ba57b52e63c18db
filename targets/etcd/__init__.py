"""A real etcd 3.4 cluster on loopback as a target.

`cluster.EtcdCluster` runs the members (free loopback ports, data in memory where there is
some) and applies faults: kill, restart, pause, membership changes, and link faults through
`proxy.PeerProxies`, the harness-owned TCP proxies every peer connection goes through.
`reaper` is the child process that removes members and data when the harness dies without
cleaning up.
"""
