// Package viewer is the session viewer behind `crewtrace ui`: three
// server-rendered pages (sessions list, overview, session replay) and the
// JSON API behind them, read-only over a session store.
//
//	browser ──GET──▶ guard (headers, token, Host) ──▶ mux ──▶ page | /api/… | /static/…
//	                                                        └─▶ store (read-only)
//
// Every string a record holds was written by some OTLP client and is
// untrusted: pages render it through html/template only, the embedded
// script sets textContent only, and the Content-Security-Policy allows no
// inline script at all.
package viewer

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/crewtrace/crewtrace/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy is sent with every response: scripts and styles only
// from the viewer's own embedded files, no inline script or style, no
// framing, no plugins, and fetches only back to the viewer.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// TokenCookie is the cookie the viewer sets after a request that carried the
// token as a query parameter, so the pages' links and fetches need not.
const TokenCookie = "crewtrace_ui_token"

// TokenHeader is the request header that may carry the token (as may
// "Authorization: Bearer <token>").
const TokenHeader = "X-Crewtrace-Token"

// Config configures a viewer.
type Config struct {
	// Store is read; the viewer never writes to it.
	Store *store.Store
	// JaegerURL is the base URL of a Jaeger UI (http://127.0.0.1:16686);
	// when set, session pages link each trace into it.
	JaegerURL string
	// Token, when set, must come with every request: as ?token=…, in the
	// X-Crewtrace-Token or Authorization: Bearer header, or in the cookie
	// the viewer sets after a ?token= visit.
	Token string
	// PollInterval is how often the sessions page asks for new sessions
	// (default 5 s).
	PollInterval time.Duration
	// Now is the clock (default time.Now): the overview's default range
	// ends now.
	Now func() time.Time
}

// ErrNoStore is returned by New without a store.
var ErrNoStore = errors.New("viewer: no store")

// Viewer serves the pages and the API. It is an http.Handler.
type Viewer struct {
	cfg     Config
	tokenH  [32]byte
	pages   map[string]*template.Template
	handler http.Handler
}

// New returns a viewer over cfg.Store.
func New(cfg Config) (*Viewer, error) {
	if cfg.Store == nil {
		return nil, ErrNoStore
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.JaegerURL = strings.TrimRight(cfg.JaegerURL, "/")
	v := &Viewer{cfg: cfg, tokenH: sha256.Sum256([]byte(cfg.Token))}
	var err error
	if v.pages, err = parseTemplates(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", v.sessionsPage)
	mux.HandleFunc("GET /overview", v.overviewPage)
	mux.HandleFunc("GET /sessions/{id...}", v.sessionPage)
	mux.HandleFunc("GET /api/sessions", v.apiSessions)
	mux.HandleFunc("GET /api/sessions/{id...}", v.apiSession)
	mux.HandleFunc("GET /api/overview", v.apiOverview)
	mux.HandleFunc("GET /api/traces/{trace}/spans/{span}", v.apiSpanAttributes)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	v.handler = mux
	return v, nil
}

// ServeHTTP sets the security headers, checks the Host and the token, then
// serves the request.
func (v *Viewer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// The token may be in the address bar: never send it on in a Referer.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if v.cfg.Token == "" && !loopbackHost(r.Host) {
		// Without a token the viewer listens on loopback only; a page that
		// reaches it under another name got there by DNS rebinding.
		http.Error(w, "forbidden: this viewer answers to loopback names only (set a token to serve other hosts)", http.StatusForbidden)
		return
	}
	if v.cfg.Token != "" {
		q := r.URL.Query()
		if tok := q.Get("token"); tok != "" && v.tokenOK(tok) {
			http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			if !strings.HasPrefix(r.URL.Path, "/api/") {
				// Take the token out of the address bar (and history).
				q.Del("token")
				// One leading slash: "//host/…" would send the browser to another host.
				to := "/" + strings.TrimLeft(r.URL.EscapedPath(), "/")
				if len(q) > 0 {
					to += "?" + q.Encode()
				}
				http.Redirect(w, r, to, http.StatusSeeOther)
				return
			}
		} else if !v.authorized(r) {
			http.Error(w, "unauthorized: this viewer needs its token (?token=…, or the X-Crewtrace-Token header)", http.StatusUnauthorized)
			return
		}
	}
	v.handler.ServeHTTP(w, r)
}

// authorized reports whether r carries the token in a header or the cookie.
func (v *Viewer) authorized(r *http.Request) bool {
	if t := r.Header.Get(TokenHeader); t != "" {
		return v.tokenOK(t)
	}
	if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return v.tokenOK(a)
	}
	if c, err := r.Cookie(TokenCookie); err == nil {
		return v.tokenOK(c.Value)
	}
	return false
}

// tokenOK compares in constant time; hashing first makes the time
// independent of the lengths too.
func (v *Viewer) tokenOK(t string) bool {
	h := sha256.Sum256([]byte(t))
	return subtle.ConstantTimeCompare(h[:], v.tokenH[:]) == 1
}

// loopbackHost reports whether a Host header names this machine's loopback:
// localhost or a loopback IP, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
