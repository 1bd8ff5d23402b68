package sip

import (
	"strconv"
	"strings"
)

// Event packages a signed-in client subscribes to (SIGNIN.md §5.3).
const (
	eventProvisioningV2  = "vnd-microsoft-provisioning-v2"
	eventProvisioningV1  = "vnd-microsoft-provisioning"
	eventRoamingSelf     = "vnd-microsoft-roaming-self"
	eventRoamingContacts = "vnd-microsoft-roaming-contacts"
	eventRoamingACL      = "vnd-microsoft-roaming-acl"
	eventPresence        = "presence"
	eventWPending        = "presence.wpending"
)

// defaultSubscriptionExpires is granted to a subscription that asks for
// no lifetime.
const defaultSubscriptionExpires = 36000

// notification is what a subscription's first NOTIFY carries.
type notification struct {
	contentType string
	body        []byte
}

// subscribe answers a SUBSCRIBE: provisioning with the update URLs, the
// roaming packages with empty documents, anything else with a bare 200.
// The body goes in the 200 OK when the client supports
// ms-piggyback-first-notify ([MS-SIPREGE] 4.2.2), else into a NOTIFY (a
// BENOTIFY, which needs no answer, when it supports ms-benotify).
func (c *conn) subscribe(req *Message, sa *securityAssociation) []*Message {
	event, _, _ := strings.Cut(req.Get("Event"), ";")
	event = strings.ToLower(strings.TrimSpace(event))
	expires := subscriptionExpires(req)
	var n *notification
	switch event {
	case eventProvisioningV2, eventProvisioningV1:
		n = c.provisioning(req, sa, event)
		expires = 0
	case eventRoamingSelf:
		n = &notification{"application/vnd-microsoft-roaming-self+xml", []byte(roamingSelf(addrURI(req.Get("To"))))}
	case eventRoamingContacts:
		// Clients require a non-zero deltaNum.
		n = &notification{"application/vnd-microsoft-roaming-contacts+xml", []byte(`<contactList deltaNum="1" xmlns="http://schemas.microsoft.com/2006/09/sip/roaming-contacts"/>`)}
	case eventRoamingACL, eventPresence, eventWPending:
	default:
		c.s.unsupported.Add(1)
		c.capture(req, "unknown-event")
		expires = 0
	}
	if event != eventProvisioningV2 && event != eventProvisioningV1 {
		c.report(StepSubscribed, sa.user, "", clip([]byte(event)))
	}
	resp := c.ok(req)
	resp.Add("Expires", strconv.Itoa(expires))
	resp.Add("Event", req.Get("Event"))
	resp.Add("subscription-state", subscriptionState(expires))
	if n == nil {
		return []*Message{resp}
	}
	if req.Has("Supported", "ms-piggyback-first-notify") {
		resp.Add("ms-piggyback-cseq", "1")
		resp.Add("Supported", "ms-benotify, ms-piggyback-first-notify")
		resp.Add("Content-Type", n.contentType)
		resp.Body = n.body
		return []*Message{resp}
	}
	return []*Message{resp, c.notify(req, resp, n, expires)}
}

// provisioning renders the provisioning answer and reports what was handed.
func (c *conn) provisioning(req *Message, sa *securityAssociation, event string) *notification {
	groups, ok := requestedGroups(req.Body)
	if !ok {
		c.capture(req, "provisioning-body")
	}
	urls := c.s.cfg.URLs()
	c.s.provisioned.Add(1)
	detail := event
	if len(groups) > 0 {
		detail += ": " + strings.Join(groups, ", ")
	}
	c.report(StepProvisioned, sa.user, handed(urls, c.s.cfg.Variant), detail)
	ct := contentTypeProvisioningV2
	if event == eventProvisioningV1 {
		ct = contentTypeProvisioningV1
	}
	return &notification{ct, renderProvisioning(groups, urls, c.s.cfg.Variant)}
}

// notify is the NOTIFY (or BENOTIFY) of a subscription answered by resp:
// the dialog's From is the 200's To, its To the subscriber's From.
func (c *conn) notify(req, resp *Message, n *notification, expires int) *Message {
	method := "NOTIFY"
	if req.Has("Supported", "ms-benotify") {
		method = "BENOTIFY"
	}
	target := addrURI(req.Get("Contact"))
	if target == "" {
		target = addrURI(req.Get("From"))
	}
	m := &Message{Method: method, RequestURI: target}
	m.Add("Via", "SIP/2.0/"+strings.ToUpper(c.transport)+" "+c.nc.LocalAddr().String()+";branch=z9hG4bK"+c.s.randHex(8))
	m.Add("From", resp.Get("To"))
	m.Add("To", req.Get("From"))
	m.Add("Call-ID", req.Get("Call-ID"))
	m.Add("CSeq", "1 "+method)
	m.Add("Max-Forwards", "70")
	m.Add("Event", req.Get("Event"))
	m.Add("Subscription-State", subscriptionState(expires))
	m.Add("Content-Type", n.contentType)
	m.Body = n.body
	return m
}

// subscriptionExpires is the lifetime asked for, or the default.
func subscriptionExpires(req *Message) int {
	n, err := strconv.Atoi(strings.TrimSpace(req.Get("Expires")))
	if err != nil || n < 0 || n > defaultSubscriptionExpires {
		return defaultSubscriptionExpires
	}
	return n
}

func subscriptionState(expires int) string {
	if expires == 0 {
		return "terminated;expires=0"
	}
	return "active;expires=" + strconv.Itoa(expires)
}

// roamingSelf is an empty roaming-self document ([MS-PRES]): no
// categories, containers or subscribers.
func roamingSelf(aor string) string {
	return `<roamingData xmlns="http://schemas.microsoft.com/2006/09/sip/roaming-self" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri="` + escape(aor) + `"/>` +
		`<containers xmlns="http://schemas.microsoft.com/2006/09/sip/container-management"/>` +
		`<subscribers xmlns="http://schemas.microsoft.com/2006/09/sip/presence-subscribers"/>` +
		`</roamingData>`
}
