package harness

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// PollInterval is how often Poll and WaitHTTP retry.
const PollInterval = 100 * time.Millisecond

// Poll calls check every PollInterval until it returns true, returns an
// error, or ctx is done. On ctx expiry the error wraps ctx.Err() and the last
// reason check gave (check reports why it is not done yet by returning a
// non-empty string with false).
func Poll(ctx context.Context, what string, check func(context.Context) (done bool, reason string, err error)) error {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	reason := "never checked"
	for {
		done, why, err := check(ctx)
		if err != nil {
			return fmt.Errorf("harness: %s: %w", what, err)
		}
		if done {
			return nil
		}
		if why != "" {
			reason = why
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: %s: %w (last: %s)", what, ctx.Err(), reason)
		case <-t.C:
		}
	}
}

// WaitHTTP polls url until it answers 200 OK. It gives up early, with the
// process's exit error, when p (if not nil) exits first: a program that cannot
// bind its port fails fast instead of running out the deadline.
func WaitHTTP(ctx context.Context, url string, p *Process) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return Poll(ctx, "wait for "+url, func(ctx context.Context) (bool, string, error) {
		if p != nil {
			select {
			case <-p.Done():
				return false, "", fmt.Errorf("%s exited before it was ready: %w\n%s", p.Name, p.ExitErr(), p.LogTail(20))
			default:
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, err.Error(), nil
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, resp.Status, nil
		}
		return true, "", nil
	})
}
