// Package web holds the appliance's HTTP plumbing that is not protocol: the
// servers with their timeouts and limits, and the access log in the W3C
// extended format IIS writes, so the log tooling OCS administrators already
// use reads it.
package web
