"""A real etcd cluster as a target: its members, the gateway to them, and the driver of a workload."""
