"""A real etcd cluster as a target: its members and peer proxies, its clients, the faults done to it."""
