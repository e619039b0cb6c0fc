package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/crewtrace/crewtrace/pricing"
	"github.com/crewtrace/crewtrace/store"
)

func init() {
	commands["reprice"] = command{
		summary: "recompute the stored sessions' costs with the current price table",
		run:     reprice,
	}
}

// reprice recomputes the cost of the traces stored in a session store from
// their stored per-model tokens, with the embedded price table and an
// optional file of entries over it (the same file the exporter's
// pricing.file names). Running it twice with the same table changes nothing.
func reprice(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reprice", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("store", "", "the session store: a SQLite file or a postgres:// DSN (required)")
	since := fs.String("since", "", "reprice only traces that started on or after this day (YYYY-MM-DD, UTC) or time (RFC 3339)")
	prices := fs.String("prices", "", "a price table file whose entries override the embedded table's (as the exporter's pricing.file)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: crewtrace reprice --store DSN [--since DATE] [--prices FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *dsn == "" {
		return fmt.Errorf("%w: --store is required", errUsage)
	}
	from, err := parseSince(*since)
	if err != nil {
		return err
	}
	table := pricing.Default()
	if *prices != "" {
		over, err := pricing.Load(*prices)
		if err != nil {
			return fmt.Errorf("--prices: %w", err)
		}
		table = table.Merge(over)
	}
	s, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.Reprice(ctx, table, from)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "price table %s: %d priced traces looked at, %d changed\n", table.Version(), res.Traces, res.Changed)
	if res.Mixed > 0 {
		fmt.Fprintf(stdout, "%d models kept their cost: some but not all of their calls reported their own\n", res.Mixed)
	}
	return nil
}

// parseSince reads --since: "" (every trace), a day (UTC) or an RFC 3339 time.
func parseSince(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: --since %q is neither YYYY-MM-DD nor an RFC 3339 time", errUsage, v)
	}
	return t, nil
}
