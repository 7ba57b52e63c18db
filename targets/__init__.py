"""What a run attacks: the simulated cluster (raftcore nodes in sim's seeded world) or a real
etcd 3.4 cluster on loopback (`targets.etcd`), whose members the harness starts, kills,
pauses and partitions through proxies it owns, so the same faults and checkers meet both.
"""
