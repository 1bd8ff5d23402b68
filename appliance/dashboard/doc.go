// Package dashboard is the appliance's web UI on the dashboard listener: the
// live fleet view, each phone's timeline and planned path, the firmware
// rules with Approve, Reject and Restore, test devices, logs, settings and
// health, a public kiosk view and a CSV export.
//
// The dashboard reads the store through the small [Store] interface and
// changes things only through [Actions], which the appliance implements
// (durably, refreshing its planner). Pages are html/template parsed once in
// [New]; every asset is embedded. Live updates are server-sent events fed
// by one store subscription (see hub): neither a slow browser nor the
// rendering ever holds up the check-in path.
//
// Security: changes need a login (bcrypt-hashed admin password), a session
// cookie (HMAC-signed, HttpOnly, SameSite=Strict) and a per-session CSRF
// token on every form; login attempts are rate-limited per client address.
// Read-only views are public or behind the login per Config.PublicReadOnly;
// /kiosk is always public. See README.md.
package dashboard
