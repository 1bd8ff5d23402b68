package store

import (
	"time"

	"github.com/tanjay-lab/tanjay/images"
)

// Stage is where a phone stands on its upgrade path, derived from its events.
type Stage string

// The stages, in the order a phone usually walks them.
const (
	StageDiscovered  Stage = "discovered"         // seen on DHCP, DNS or SIP, never checked in
	StageSignedIn    Stage = "signed-in"          // signed in over SIP (beta builds), never checked in
	StageCheckedIn   Stage = "checked-in"         // checked in; no rule for it (nothing to offer)
	StageOffered     Stage = "offered"            // offered hop k of n, not yet fetching
	StageDownloading Stage = "downloading"        // fetching the offered image
	StageWaiting     Stage = "waiting-to-install" // image fetched, version not yet changed
	StageOnInterim   Stage = "on-interim"         // runs an interim build, more hops to go
	StageDone        Stage = "done"               // at (or above) its target
	StageStalled     Stage = "stalled"            // same hop offered again and again, nothing fetched
	StageFailed      Stage = "failed"             // fetched the image, but the version never changed
)

// Stages are all the stages in that order: the order they are counted,
// listed and sorted in. Nobody writes to it.
var Stages = []Stage{
	StageDiscovered, StageSignedIn, StageCheckedIn, StageOffered, StageDownloading,
	StageWaiting, StageOnInterim, StageDone, StageStalled, StageFailed,
}

// EventKind says what happened.
type EventKind string

// The kinds of event on a phone's timeline.
const (
	EventCheckIn  EventKind = "checkin"
	EventDownload EventKind = "download"
	EventUpload   EventKind = "upload"
	EventDNS      EventKind = "dns"
	EventDHCP     EventKind = "dhcp"
	EventSIP      EventKind = "sip" // a step of a sign-in to the appliance's SIP front end
	// EventDirectory is an authentication at the lab's domain controller
	// (Samba's audit): a phone locating the DC and reading the CA before
	// it signs in.
	EventDirectory EventKind = "directory"
)

// The steps at the lab's domain controller, the DirectoryStep of an
// EventDirectory: Samba's authentication audit and search log, the
// appliance's relay of DC locator pings, and Samba's own restarts. Samba
// does not log Kerberos service tickets asked for.
const (
	DirectoryPing       = "dc locator ping"      // a CLDAP ping (DnsDomain, NtVer in Detail); User is the filter's User
	DirectoryKerberos   = "kerberos"             // asked the KDC for a ticket-granting ticket (kinit)
	DirectoryLDAPBind   = "ldap bind"            // an LDAP bind; anonymous when User is empty
	DirectoryLDAPSearch = "ldap search"          // an LDAP search (filter and base in Detail); User "anonymous" or empty
	DirectoryNTLM       = "ntlm"                 // NTLM to another service (SMB, netlogon)
	DirectoryTicket     = "kerberos ticket used" // a Kerberos service ticket presented to a service
	DirectorySamba      = "samba"                // Samba stopped (DirectoryError) or answers again, while the phone was signing in
)

// The steps of a SIP sign-in, the SIPStep of an EventSIP. Beta builds
// (1.0.199.x) look up no update server: a technician signs them in, and the
// provisioning answer hands them the update URLs.
const (
	SIPAttempt         = "attempt"          // a REGISTER was challenged: sign-in started
	SIPSignedIn        = "signed-in"        // NTLM verified, REGISTER answered 200
	SIPAuthFailed      = "auth-failed"      // wrong password
	SIPProvisioned     = "provisioned"      // the provisioning subscription was answered with the update URLs
	SIPSubscribed      = "subscribed"       // another subscription was answered
	SIPUnregistered    = "unregistered"     // the phone signed out
	SIPSignatureFailed = "signature-failed" // a signed message's NTLM signature did not verify
)

// Event is one thing a phone did. Writers fill what they know; the store
// assigns Seq and DeviceID.
type Event struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	DeviceID string    `json:"device_id"`
	Kind     EventKind `json:"kind"`
	IP       string    `json:"ip,omitempty"`

	// Identity, as far as the event knows it (check-ins and DHCP).
	MAC        string            `json:"mac,omitempty"`
	Serial     string            `json:"serial,omitempty"`
	DevicePath images.DevicePath `json:"device_path,omitzero"`

	// Check-ins: what the phone reported and what it was offered (zero:
	// nothing), its final target, the hops still to go and why.
	Reported images.Version   `json:"reported,omitzero"`
	Offered  images.Version   `json:"offered,omitzero"`
	Target   images.Version   `json:"target,omitzero"`
	Path     []images.Version `json:"path,omitempty"`
	Interim  bool             `json:"interim,omitempty"` // Reported is an interim build
	IsTest   bool             `json:"is_test,omitempty"`

	// Downloads and uploads: the file. On a check-in with an offer: the
	// offered image's file name.
	File     string `json:"file,omitempty"`
	Offset   int64  `json:"offset,omitempty"`
	Bytes    int64  `json:"bytes,omitempty"`
	Total    int64  `json:"total,omitempty"`
	Complete bool   `json:"complete,omitempty"`

	// Name is the name a DNS query asked for (without the final dot).
	Name string `json:"name,omitempty"`

	// SIP sign-ins: the step (SIPAttempt…), the user the phone signed in
	// as (LAB\tech, alice@lab.test), its User-Agent, and for
	// SIPProvisioned the update URLs it was handed.
	SIPStep   string `json:"sip_step,omitempty"`
	User      string `json:"user,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Handed    string `json:"handed,omitempty"`

	// The lab's domain controller: the step (DirectoryKerberos…), with the
	// user the phone named in User, how in Detail ("LDAP, simple bind"),
	// and why the DC refused it ("wrong password"), empty when it did not.
	DirectoryStep  string `json:"directory_step,omitempty"`
	DirectoryError string `json:"directory_error,omitempty"`

	// Detail is a short human line: the DNS query and its answer, the reason nothing
	// was offered, a download error, the capture file, the NTLM variant of a
	// sign-in or why it was refused.
	Detail string `json:"detail,omitempty"`
}

// Device is one phone as the appliance knows it. Its ID is the normalised MAC
// (12 upper-case hex digits) when known, else "SN:<serial>", else
// "IP:<address>".
type Device struct {
	ID         string            `json:"id"`
	MAC        string            `json:"mac,omitempty"`
	Serial     string            `json:"serial,omitempty"`
	IP         string            `json:"ip,omitempty"`
	DevicePath images.DevicePath `json:"device_path,omitzero"`

	FirstVersion images.Version   `json:"first_version,omitzero"` // first reported
	Version      images.Version   `json:"version,omitzero"`       // last reported
	Offered      images.Version   `json:"offered,omitzero"`       // last offered (zero: nothing)
	OfferedFile  string           `json:"offered_file,omitempty"` // the offered image's file (CPE.nbt); its downloads drive the progress
	Target       images.Version   `json:"target,omitzero"`
	Path         []images.Version `json:"path,omitempty"`
	IsTest       bool             `json:"is_test,omitempty"`
	// DNSName is the last name the phone asked the appliance's DNS for:
	// whether and what a phone that never checks in looked up.
	DNSName string `json:"dns_name,omitempty"`
	// SIPUser is who the phone last signed in as over SIP, at SignedInAt;
	// Handed is what the last provisioning answer handed it (the update
	// URLs). UserAgent is the last User-Agent it sent.
	SIPUser    string    `json:"sip_user,omitempty"`
	SignedInAt time.Time `json:"signed_in_at,omitzero"`
	Handed     string    `json:"handed,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty"`

	Stage       Stage     `json:"stage"`
	StageReason string    `json:"stage_reason,omitempty"` // why stalled or failed
	StageSince  time.Time `json:"stage_since"`

	DownloadFile  string `json:"download_file,omitempty"`
	DownloadBytes int64  `json:"download_bytes,omitempty"` // highest byte reached
	DownloadTotal int64  `json:"download_total,omitempty"`

	CheckIns     int       `json:"checkins"`
	SameOffer    int       `json:"same_offer"`    // consecutive check-ins offered the same hop, version unchanged
	FetchedCount int       `json:"fetched_count"` // check-ins since the offered image was fully fetched, version unchanged
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	// Hops is when each version change was first seen: version → time.
	Hops []Hop `json:"hops,omitempty"`
}

// Hop records that a phone was first seen running Version at At.
type Hop struct {
	Version images.Version `json:"version"`
	At      time.Time      `json:"at"`
}

// TestDevice names a phone that gets Pending versions, by MAC or serial.
type TestDevice struct {
	// ID is the normalised MAC (12 upper-case hex digits) or the serial as given.
	ID    string    `json:"id"`
	Kind  string    `json:"kind"` // "mac" or "serial"
	Added time.Time `json:"added"`
}
