package main

// `crewtrace sessions`: sessions in the terminal.
//
//	crewtrace sessions ls   [source] [--state S[,S]] [--search TEXT] [--since D|TIME] [--errors] [--limit N]
//	crewtrace sessions show [source] <session id>
//	crewtrace sessions tail [source] [--since D|TIME] [--wait N] [--timeout D]
//
// source is --store <sqlite path | postgres DSN> or --file <records.jsonl>
// (see source.go). Every string from a record goes through clean before it
// reaches the terminal.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crewtrace/crewtrace/store"
)

func init() {
	commands["sessions"] = command{
		summary: "list, show and follow sessions in the terminal (ls, show, tail)",
		run:     runSessions,
	}
}

const sessionsUsage = `usage:
  crewtrace sessions ls   (--store DSN | --file PATH) [--state Fail,...] [--search TEXT] [--since 1h|2006-01-02T15:04:05Z] [--errors] [--limit 50]
  crewtrace sessions show (--store DSN | --file PATH) <session id>
  crewtrace sessions tail (--store DSN | --file PATH) [--since 1h|TIME] [--wait N] [--timeout 2m]

--store takes a SQLite path (sqlite:PATH, or a file path) or a PostgreSQL DSN
(postgres://..., or key=value); --file a JSONL file of session records.`

// errTimeout: tail --timeout passed before --wait sessions landed.
var errTimeout = errors.New("timed out")

func runSessions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, sessionsUsage)
		return fmt.Errorf("%w: a subcommand is needed (ls, show, tail)", errUsage)
	}
	switch args[0] {
	case "ls", "list":
		return sessionsLs(ctx, args[1:], stdout, stderr)
	case "show":
		return sessionsShow(ctx, args[1:], stdout, stderr)
	case "tail":
		return sessionsTail(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, sessionsUsage)
		return nil
	}
	fmt.Fprintln(stderr, sessionsUsage)
	return fmt.Errorf("%w: unknown subcommand %q (ls, show, tail)", errUsage, clean(args[0]))
}

// sourceFlags are the flags every sessions subcommand takes.
type sourceFlags struct{ dsn, file string }

func newFlagSet(name string, stderr io.Writer, src *sourceFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("crewtrace sessions "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&src.dsn, "store", "", "session store: SQLite path or PostgreSQL DSN")
	fs.StringVar(&src.file, "file", "", "JSONL file of session records")
	return fs
}

// parse parses flags wherever they are among the arguments (`show ID
// --store x` as well as `show --store x ID`) and returns the others.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// sinceFlag is a start bound: a duration back from now ("90m") or a time.
type sinceFlag struct{ t time.Time }

func (s *sinceFlag) String() string {
	if s.t.IsZero() {
		return ""
	}
	return s.t.Format(time.RFC3339)
}

func (s *sinceFlag) Set(v string) error {
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return fmt.Errorf("negative duration %s", v)
		}
		s.t = time.Now().Add(-d)
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			s.t = t
			return nil
		}
	}
	return fmt.Errorf("want a duration (90m) or a time (2006-01-02T15:04:05Z), got %q", v)
}

// endStates reads --state: names of the three end states match in any case.
func endStates(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		for _, known := range []string{"Success", "Fail", "Indeterminate"} {
			if strings.EqualFold(s, known) {
				s = known
			}
		}
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func sessionsLs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var src sourceFlags
	fs := newFlagSet("ls", stderr, &src)
	state := fs.String("state", "", "end states to keep, comma-separated (Success, Fail, Indeterminate)")
	search := fs.String("search", "", "text in the name, tags, service or end reason (any case)")
	var since sinceFlag
	fs.Var(&since, "since", "sessions that started at or after: a duration back from now (1h) or a time")
	errs := fs.Bool("errors", false, "only sessions with errors")
	limit := fs.Int("limit", store.DefaultLimit, fmt.Sprintf("sessions to show, newest first (1..%d)", store.MaxLimit))
	asc := fs.Bool("oldest-first", false, "oldest first instead of newest first")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, clean(pos[0]))
	}
	if *limit < 1 || *limit > store.MaxLimit {
		return fmt.Errorf("%w: --limit %d, want 1..%d", errUsage, *limit, store.MaxLimit)
	}
	s, err := openSource(ctx, src.dsn, src.file, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	f := store.Filter{EndStates: endStates(*state), Text: *search, From: since.t, HasErrors: *errs}
	page, err := s.st.ListSessions(ctx, store.ListQuery{Filter: f, Limit: *limit, Ascending: *asc})
	if err != nil {
		return err
	}
	total, err := s.st.CountSessions(ctx, f)
	if err != nil {
		return err
	}
	printSessionTable(stdout, page.Sessions)
	if int64(len(page.Sessions)) < total {
		fmt.Fprintf(stdout, "%d of %d sessions (--limit for more)\n", len(page.Sessions), total)
	} else {
		fmt.Fprintf(stdout, "%d sessions\n", total)
	}
	return nil
}

// printSessionTable prints summaries as the session list: the columns of
// the viewer's list page.
func printSessionTable(w io.Writer, sums []store.Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION ID\tNAME\tEND STATE\tSTART\tDURATION\tAGENTS\tLLM\tTOOLS\tACTIONS\tERRORS\tTOKENS IN/OUT")
	for _, s := range sums {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d/%d\n",
			text(s.SessionID, 64), text(s.Name, 32), stateText(s.EndState, s.Complete),
			s.Start.Local().Format("2006-01-02 15:04:05"), duration(s.DurationMs),
			s.Agents, s.LLMCalls, s.ToolCalls, s.Actions, s.Errors, s.Tokens.Input, s.Tokens.Output)
	}
	tw.Flush()
}

func stateText(state string, complete bool) string {
	st := text(state, 24)
	if st == "" {
		st = "-"
	}
	if !complete {
		st += " (incomplete)"
	}
	return st
}

// duration prints milliseconds the way a person reads them.
func duration(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func sessionsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var src sourceFlags
	fs := newFlagSet("show", stderr, &src)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want one session ID, got %d arguments", errUsage, len(pos))
	}
	s, err := openSource(ctx, src.dsn, src.file, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	sess, err := s.st.Session(ctx, pos[0])
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s in %s", errSessionNotFound, text(pos[0], 80), s.desc)
	}
	if err != nil {
		return err
	}
	printSession(stdout, sess)
	return nil
}

// tailPage is how many changed sessions one poll of the tail reads.
const tailPage = 200

func sessionsTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var src sourceFlags
	fs := newFlagSet("tail", stderr, &src)
	var since sinceFlag
	fs.Var(&since, "since", "also print the sessions already stored that started at or after this (a duration back from now, or a time); default: only sessions landing from now on")
	wait := fs.Int("wait", 0, "exit 0 once this many sessions have landed (0: run until interrupted)")
	timeout := fs.Duration("timeout", 0, "with --wait: fail when the sessions have not landed within this; without: stop after this (0: no limit)")
	poll := fs.Duration("poll", 250*time.Millisecond, "how often to look for new sessions")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, clean(pos[0]))
	case *wait < 0:
		return fmt.Errorf("%w: --wait %d, want ≥ 0", errUsage, *wait)
	case *timeout < 0 || *poll <= 0:
		return fmt.Errorf("%w: --timeout and --poll must be positive", errUsage)
	}
	started := time.Now()
	s, err := openSource(ctx, src.dsn, src.file, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	pos0 := ""
	if since.t.IsZero() {
		if pos0, err = s.st.Head(ctx); err != nil {
			return err
		}
	}
	// Said once the starting position is taken: a script may start writing.
	fmt.Fprintf(stderr, "crewtrace sessions tail: following %s\n", s.desc)
	var deadline <-chan time.Time
	if *timeout > 0 {
		t := time.NewTimer(*timeout - time.Since(started))
		defer t.Stop()
		deadline = t.C
	}
	landed := map[string]bool{}
	header := false
	tick := time.NewTicker(*poll)
	defer tick.Stop()
	at := pos0
	for {
		for {
			ch, err := s.st.SessionsSince(ctx, at, tailPage)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				return err
			}
			at = ch.Next
			for _, sum := range ch.Sessions {
				if !since.t.IsZero() && sum.Start.Before(since.t) {
					continue
				}
				if !header {
					fmt.Fprintf(stdout, "%-8s  %-36s  %-24s  %-13s  %9s  %s\n", "LANDED", "SESSION ID", "NAME", "END STATE", "DURATION", "AGENTS LLM TOOLS ERRORS TOKENS")
					header = true
				}
				fmt.Fprintf(stdout, "%-8s  %-36s  %-24s  %-13s  %9s  %d %d %d %d %d\n",
					time.Now().Format("15:04:05"), text(sum.SessionID, 36), text(sum.Name, 24),
					stateText(sum.EndState, sum.Complete), duration(sum.DurationMs),
					sum.Agents, sum.LLMCalls, sum.ToolCalls, sum.Errors, sum.Tokens.Total)
				landed[sum.SessionID] = true
			}
			if len(ch.Sessions) < tailPage {
				break
			}
		}
		if *wait > 0 && len(landed) >= *wait {
			return nil
		}
		select {
		case <-ctx.Done():
			if *wait > 0 {
				return fmt.Errorf("interrupted: %d of %d sessions landed", len(landed), *wait)
			}
			return nil
		case <-deadline:
			if *wait == 0 {
				return nil
			}
			return fmt.Errorf("%w after %s: %d of %d sessions landed in %s", errTimeout, *timeout, len(landed), *wait, s.desc)
		case <-tick.C:
		}
		if err := s.refresh(ctx, false); err != nil && ctx.Err() == nil {
			return err
		}
	}
}
