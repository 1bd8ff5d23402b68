// Package sip is the SIP front end beta Tanjay phones sign in to.
//
// A Tanjay on beta firmware 1.0.199.x never looks the update service up by
// DNS: it learns the update URLs only from in-band provisioning after a
// technician signs it in (PROTOCOL.md §1, SIGNIN.md). This package is the
// smallest OCS 2007 R2 front end that gets it there: over TCP and TLS, one
// long-lived connection per phone, it runs the connectionless NTLM
// handshake of [MS-SIPAE] against one lab password (any user, any domain),
// registers the phone ([MS-SIPREGE]), answers the provisioning
// subscription with the four-URL settings of ServerConfiguration, and gives
// every other request a signed minimal answer so the phone shows no error.
//
// Every final response and every request the appliance sends after the
// security association exists carries a signed Authentication-Info: OCS
// clients drop unsigned ones silently. Header values are kept exactly as
// they came off the wire, because the signature covers them byte for byte.
//
// The front end is written here rather than on a SIP library: it needs
// exact control of the bytes it signs and must never send an unsigned
// automatic response (a transaction layer's 481 or 500); the subset of SIP
// it speaks is a stream of requests answered in order on one connection.
//
// It reports through small interfaces (Observer, Capturer) and never
// imports the store or r2.
package sip
