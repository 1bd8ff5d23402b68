// Package phone simulates OCS 2007 R2 / Lync Phone Edition devices checking
// in with a Device Update Service: the client side of the protocol in
// PROTOCOL.md §2. Tests, `tanjay demo` and the load benchmark
// (`tanjay phone`) use it against any server, ours or Microsoft's.
//
// One phone (Run) walks its upgrade path the way a real one does: it POSTs a
// check-in to <Server>/RequestHandler/ucdevice.upx, and while the answer
// offers a version it fetches the image (and signature) from the offered
// BaseURL, "installs" it, and checks in again reporting the new version. It
// stops when nothing is offered, and reports an error on HTTP failures, on a
// server that offers the version the phone already runs (a loop), or past a
// hop limit.
//
// A beta phone (1.0.199.x, Config.SignIn) never looks the update service
// up: it signs in first and checks in at the URL in-band provisioning
// handed it. The SIP part is a function the caller plugs in, so this
// package stays free of SIP code.
//
// A fleet (RunFleet) runs many phones, at most DefaultConcurrency at once,
// and summarises throughput and check-in latency. Phones with an address
// of their own (Config.LocalIP: on loopback, LoopbackAddrs hands out one
// per phone from 127.0.0.2) each keep one keep-alive connection for their
// check-ins and downloads and close it when their walk ends; the others
// share one keep-alive transport. RunLoad is check-in load for a fixed
// time, and CheckIn and Fetch are a phone's first check-in and one
// download on their own, for benchmarks (`tanjay bench`).
//
// The element names of the request are our inference (they were never
// published); the request is built in one function (appendRequest) so a
// capture of a real phone changes one place. Responses are parsed leniently:
// any root, any namespace, any case, elements or attributes.
//
// The package is the client side: it imports no server package.
package phone
