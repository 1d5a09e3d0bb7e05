// Package etcdtest runs etcd clusters for tests and benchmarks: members as
// separate processes (StartProcesses, Launch) that a fault test can kill
// with SIGKILL and restart on their data.
package etcdtest
