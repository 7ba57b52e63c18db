"""What is attacked: the simulated cluster (`sim`) or a real etcd cluster on loopback (`targets.etcd`)."""
