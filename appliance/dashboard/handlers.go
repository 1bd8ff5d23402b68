package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// session is who is asking: logged in or not, and the CSRF token the
// page's forms carry.
type session struct {
	LoggedIn bool
	nonce    string
	CSRF     string
}

// page is what every page's data struct embeds: the layout's needs.
type page struct {
	Title  string
	Nav    string // the active tab
	Stream string // the /events query of the live feed, "" for none
	Flash  string
	Error  string
	Kiosk  bool // full screen, no navigation or forms
	session
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, s session)

func (d *Dashboard) routes() *http.ServeMux {
	mux := http.NewServeMux()
	// The pages whose work grows with the fleet share the render gate
	// (fleetpage.go): a flood of anonymous requests is refused with 503,
	// not queued.
	mux.Handle("GET /assets/", assetHandler())
	mux.Handle("GET /{$}", d.viewer(d.gated(d.fleetPage)))
	mux.Handle("GET /kiosk", d.public(d.gated(d.kioskPage)))
	mux.Handle("GET /events", d.public(d.streamAccess))
	mux.Handle("GET /phone/{id}", d.viewer(d.phonePage))
	mux.Handle("GET /firmware", d.viewer(d.gated(d.firmwarePage)))
	mux.Handle("GET /firmware/confirm", d.admin(d.confirmPage))
	mux.Handle("POST /firmware/upload", d.admin(d.uploadAction))
	mux.Handle("POST /firmware/{action}", d.admin(d.ruleAction))
	mux.Handle("GET /testdevices", d.viewer(d.gated(d.testDevicesPage)))
	mux.Handle("POST /testdevices/add", d.admin(d.addTestDevice))
	mux.Handle("POST /testdevices/remove", d.admin(d.removeTestDevice))
	mux.Handle("GET /logs", d.viewer(d.logsPage))
	mux.Handle("GET /settings", d.viewer(d.settingsPage))
	mux.Handle("POST /settings/backup", d.admin(d.downloadBackup))
	// The exports take the render gate batch by batch (export.go).
	mux.Handle("GET /export/fleet.csv", d.viewer(d.exportFleet))
	mux.Handle("GET /export/history.csv", d.viewer(d.exportHistory))
	mux.Handle("GET /export/operator.csv", d.viewer(d.exportOperatorLog))
	mux.Handle("GET /login", d.public(d.loginPage))
	mux.Handle("POST /login", d.public(d.login))
	mux.Handle("POST /logout", d.admin(d.logout))
	return mux
}

func (d *Dashboard) session(r *http.Request) session {
	nonce, ok := d.auth.session(r)
	if !ok {
		return session{}
	}
	return session{LoggedIn: true, nonce: nonce, CSRF: d.auth.csrfToken(nonce)}
}

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

// public serves h to anyone.
func (d *Dashboard) public(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		h(w, r, d.session(r))
	})
}

// viewer serves a read-only view: to anyone when PublicReadOnly, else to a
// logged-in operator (others are sent to the login form).
func (d *Dashboard) viewer(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		s := d.session(r)
		if !s.LoggedIn && !d.cfg.PublicReadOnly {
			redirectToLogin(w, r)
			return
		}
		h(w, r, s)
	})
}

// admin serves what changes something, or leads to a change: it needs the
// login, and a POST needs the session's CSRF token (form field "csrf", or
// header X-CSRF-Token, or for the multipart upload the query "csrf").
func (d *Dashboard) admin(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		s := d.session(r)
		if !s.LoggedIn {
			if r.Method == http.MethodGet {
				redirectToLogin(w, r)
				return
			}
			http.Error(w, "log in first", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost && !d.auth.validCSRF(s.nonce, csrfFrom(r)) {
			http.Error(w, "bad or missing CSRF token: reload the page and try again", http.StatusForbidden)
			return
		}
		h(w, r, s)
	})
}

// csrfFrom reads the token without consuming a multipart body, which the
// appliance's importer reads itself.
func csrfFrom(r *http.Request) string {
	if t := r.Header.Get("X-CSRF-Token"); t != "" {
		return t
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		return r.URL.Query().Get("csrf")
	}
	return r.PostFormValue("csrf")
}

func redirectToLogin(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

// render executes a page into a buffer first, so a template error is a
// clean 500 and not half a page.
func (d *Dashboard) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := d.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		d.cfg.Logger.Error("dashboard render", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

// flashRedirect goes back to a page with a message (PRG).
func flashRedirect(w http.ResponseWriter, r *http.Request, to, msg string, err error) {
	q := url.Values{}
	if err != nil {
		q.Set("err", err.Error())
	} else {
		q.Set("msg", msg)
	}
	http.Redirect(w, r, to+"?"+q.Encode(), http.StatusSeeOther)
}

func newPage(r *http.Request, s session, title, nav string) page {
	return page{Title: title, Nav: nav, session: s, Flash: r.URL.Query().Get("msg"), Error: r.URL.Query().Get("err")}
}

type loginData struct {
	page
	Next  string
	Token string
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request, s session) {
	tok := randomToken(18)
	setCookie(w, r, loginCookie, tok, time.Time{})
	p := newPage(r, s, "Log in", "login")
	d.render(w, "login", loginData{page: p, Next: safeNext(r.URL.Query().Get("next")), Token: tok})
}

var errLogin = errors.New("wrong password")

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request, _ session) {
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || r.PostFormValue("csrf") != c.Value {
		http.Error(w, "bad or missing CSRF token: reload the login page", http.StatusForbidden)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	if !d.auth.allowLogin(clientAddr(r)) {
		w.Header().Set("Retry-After", "60")
		http.Error(w, "too many login attempts: wait a minute", http.StatusTooManyRequests)
		return
	}
	if !d.auth.checkPassword(r.PostFormValue("password")) {
		d.cfg.Logger.Warn("dashboard login refused", "remote", clientAddr(r))
		http.Redirect(w, r, "/login?"+url.Values{"next": {next}, "err": {errLogin.Error()}}.Encode(), http.StatusSeeOther)
		return
	}
	d.auth.loginSucceeded(clientAddr(r))
	value, exp := d.auth.newSession()
	setCookie(w, r, sessionCookie, value, exp)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, s session) {
	err := d.auth.revoke(s.nonce)
	setCookie(w, r, sessionCookie, "", time.Unix(1, 0))
	if err != nil {
		d.cfg.Logger.Error("dashboard logout", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// streamAccess lets the fleet stream (what /kiosk shows publicly anyway)
// through, and the others only where their pages are readable.
func (d *Dashboard) streamAccess(w http.ResponseWriter, r *http.Request, s session) {
	if r.URL.Query().Get("topic") != topicFleet && !s.LoggedIn && !d.cfg.PublicReadOnly {
		http.Error(w, "log in first", http.StatusForbidden)
		return
	}
	d.serveEvents(w, r)
}

// rowsUpdate is the data of a fleet "rows" event. A page replaces the rows
// it shows and ignores the others (they are on other pages); Added says
// how many phones are new to the fleet, which a page may want to reload
// for.
type rowsUpdate struct {
	Rows    []rowHTML `json:"rows"`
	Removed []string  `json:"removed,omitempty"`
	Added   int       `json:"added,omitempty"`
	Summary string    `json:"summary"`
}

type rowHTML struct {
	ID   string `json:"id"`
	HTML string `json:"html"`
}

// renderFleetUpdate renders the changed phones' rows and the summary once,
// for every fleet stream. It reads only the changed phones from the store
// and the summary from the fleet index's counts: its cost grows with the
// changed rows (at most maxRowsPerFrame), not with the fleet.
func (d *Dashboard) renderFleetUpdate(changed map[string]bool, added int) []byte {
	now := d.cfg.Now()
	med := d.fleet.medians(now)
	up := rowsUpdate{Added: added}
	ids := make([]string, 0, len(changed))
	for id := range changed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var row []byte
	for _, id := range ids {
		dev, ok := d.st.Device(id)
		if !ok {
			up.Removed = append(up.Removed, id)
			continue
		}
		r := makeRow(&dev, med, now)
		row = appendRow(row[:0], &r)
		up.Rows = append(up.Rows, rowHTML{ID: id, HTML: string(row)})
	}
	var buf bytes.Buffer
	if err := d.pages["fleet"].ExecuteTemplate(&buf, "summary", d.fleet.summary()); err != nil {
		d.cfg.Logger.Error("dashboard render summary", "err", err)
		return refreshFrame
	}
	up.Summary = buf.String()
	// HTML escaping of the JSON would only inflate every frame: the browser
	// JSON.parses it; JSON escapes newlines, so it stays one data line.
	var frame bytes.Buffer
	frame.WriteString("event: rows\ndata: ")
	enc := json.NewEncoder(&frame)
	enc.SetEscapeHTML(false)
	enc.Encode(up) // ends with "\n"
	frame.WriteString("\n")
	return frame.Bytes()
}
