// Package admin is the one home of operator actions: importing firmware,
// approving, rejecting and restoring rules, making an imported version
// Pending again, adding and removing test devices. Each action is durable
// in the store when it returns, is recorded in the operator log with who
// asked for it, and refreshes the planner's catalog itself (through the
// hook the appliance gives).
//
// [Actions] is the typed API the dashboard and the admin API share; [API]
// is the admin API over it (/api/v1/…, bearer token), whose request and
// answer types the command-line client uses too.
//
// admin must not speak to phones: it imports neither r2, legacy nor the
// DNS and DHCP responders. What it needs from them (reading a MAC address
// the way phones write it) the appliance plugs in through [Config].
package admin
