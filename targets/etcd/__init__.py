"""A real etcd 3.4 cluster as a target: its members and peer proxies, its clients, the faults done to it.

`cluster.EtcdCluster` runs the members on loopback (free ports, data in memory where there is
some) and applies faults: kill, restart, pause, membership changes, and link faults through
`proxy.PeerProxies`, the harness-owned TCP proxies every peer connection goes through.
`reaper` is the child process that removes members and data when the harness dies without
cleaning up. `nemesis` plays a scenario's faults on a cluster, and `run` runs a scenario on one.
"""
