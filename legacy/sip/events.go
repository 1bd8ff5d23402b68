package sip

import (
	"net/netip"
	"time"
)

// Step names what happened in a sign-in, for the phone's timeline.
type Step string

// The steps the front end reports.
const (
	StepAttempt         Step = "attempt"          // a request without credentials was challenged: a sign-in starts
	StepSignedIn        Step = "signed-in"        // the NTLM response matched the lab password
	StepAuthFailed      Step = "auth-failed"      // it did not
	StepProvisioned     Step = "provisioned"      // the provisioning subscription was answered with the update URLs
	StepSubscribed      Step = "subscribed"       // another subscription was answered
	StepUnregistered    Step = "unregistered"     // REGISTER with Expires: 0
	StepSignatureFailed Step = "signature-failed" // a signed request's signature did not verify
)

// Event is one step of a phone's sign-in.
type Event struct {
	At        time.Time
	ClientIP  netip.Addr // IPv4 clients unmapped
	Transport string     // "tcp" or "tls"
	Step      Step
	// User is what the phone signed in as: DOMAIN\user from the NTLM
	// AUTHENTICATE, else the sign-in address.
	User      string
	UserAgent string
	// Handed is what a provisioning answer carried: the two update URLs
	// and the body variant.
	Handed string
	// Detail is a short human line: the NTLM variant and protocol version,
	// the failure count, the event package.
	Detail string
}

// Observer is told about sign-in steps. It is called on the connection's
// goroutine before the answer goes out and must not block.
type Observer interface {
	SIP(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// SIP calls f(e).
func (f ObserverFunc) SIP(e Event) { f(e) }

// Capturer keeps the raw bytes of a message the front end did not fully
// understand (credentials already redacted), so the first real phone
// teaches us its exact shape. reason is a short word for the file name.
type Capturer interface {
	CaptureSIP(at time.Time, clientIP netip.Addr, reason string, raw []byte)
}
