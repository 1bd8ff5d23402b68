// Package appliance is the composition root: the Config and its flags, the
// one route table, Run (bind every listener first, then serve them under
// one errgroup, shut down gracefully), the admin API, the admin commands
// and the demo. It speaks no protocol itself: r2 does, planned by legacy,
// recorded in appliance/store.
package appliance
