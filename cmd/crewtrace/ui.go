package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/crewtrace/crewtrace/cmd/crewtrace/internal/viewer"
	"github.com/crewtrace/crewtrace/store"
)

func init() {
	commands["ui"] = command{summary: "serve the session viewer (sessions, overview, replay) over a session store", run: runUI}
}

// TokenEnv is the environment variable that gives `crewtrace ui` its token
// when --token is not set.
const TokenEnv = "CREWTRACE_UI_TOKEN"

// Errors of `crewtrace ui` at start.
var (
	// errNoStoreFlag: --store is required.
	errNoStoreFlag = fmt.Errorf("%w: --store is required (a SQLite file such as sessions.db, or a postgres:// DSN)", errUsage)
	// errNeedToken: a listen address other than loopback needs a token.
	errNeedToken = fmt.Errorf("%w: refusing to listen on a non-loopback address without a token (--token or %s)", errUsage, TokenEnv)
	// errBadJaeger: --jaeger must be an http(s) URL.
	errBadJaeger = fmt.Errorf("%w: --jaeger must be an http:// or https:// URL", errUsage)
	// errOpenStore: the store could not be opened for reading.
	errOpenStore = errors.New("cannot open the session store")
)

// uiOptions are the flags of `crewtrace ui`.
type uiOptions struct {
	store, jaeger, listen, token string
}

func parseUIFlags(args []string, stderr io.Writer) (uiOptions, error) {
	var o uiOptions
	fs := flag.NewFlagSet("crewtrace ui", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.store, "store", "", "session store: a SQLite file (sessions.db, sqlite:PATH) or a PostgreSQL DSN (postgres://…)")
	fs.StringVar(&o.jaeger, "jaeger", "", "base URL of a Jaeger UI to link traces into (e.g. http://127.0.0.1:16686)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to listen on; other than loopback only with a token")
	fs.StringVar(&o.token, "token", "", "access token every request must carry (default $"+TokenEnv+")")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, nil
		}
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if o.token == "" {
		o.token = os.Getenv(TokenEnv)
	}
	if o.store == "" {
		return o, errNoStoreFlag
	}
	if o.jaeger != "" {
		u, err := url.Parse(o.jaeger)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, fmt.Errorf("%w (got %q)", errBadJaeger, o.jaeger)
		}
	}
	host, _, err := net.SplitHostPort(o.listen)
	if err != nil {
		return o, fmt.Errorf("%w: --listen %q: %v", errUsage, o.listen, err)
	}
	if o.token == "" && !loopback(host) {
		return o, fmt.Errorf("%w (--listen %q)", errNeedToken, o.listen)
	}
	return o, nil
}

// loopback reports whether a listen host is loopback only: localhost or a
// loopback IP. An empty host or 0.0.0.0 listens on every interface.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// runUI opens the store read-only, listens, prints the one line
// "crewtrace ui: serving http://<addr>/" (scripts wait for it) and serves
// until ctx is done.
func runUI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseUIFlags(args, stderr)
	if err != nil || o.store == "" {
		return err
	}
	openCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	st, err := store.Open(openCtx, o.store, store.ReadOnly(), store.WithTimeout(10*time.Second))
	cancel()
	if err != nil {
		if errors.Is(err, store.ErrSchema) {
			return fmt.Errorf("%w %q: no session store there (a missing file, or a database the collector has not written yet): %w", errOpenStore, o.store, err)
		}
		return fmt.Errorf("%w %q: %w", errOpenStore, o.store, err)
	}
	defer st.Close()
	v, err := viewer.New(viewer.Config{Store: st, JaegerURL: o.jaeger, Token: o.token})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	srv := &http.Server{Handler: v, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	u := "http://" + ln.Addr().String() + "/"
	if o.token != "" {
		u += "?token=" + url.QueryEscape(o.token)
	}
	fmt.Fprintf(stdout, "crewtrace ui: serving %s\n", u)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
