package harness

import (
	"context"
	"fmt"
	"regexp"
)

// viewerLine is the one line `crewtrace ui` prints once it listens.
var viewerLine = regexp.MustCompile(`(?m)^crewtrace ui: serving (http://\S+)$`)

// StartViewer starts `crewtrace ui` (bin) with args and env, its output in
// logDir/crewtrace-ui.log, and waits for the line it prints once listening.
// It returns the process and the URL of that line (with ?token=… when the
// viewer has a token).
func StartViewer(ctx context.Context, logDir string, env []string, bin string, args ...string) (*Process, string, error) {
	p, err := Start("crewtrace-ui", logDir, env, bin, append([]string{"ui"}, args...)...)
	if err != nil {
		return nil, "", err
	}
	var url string
	err = Poll(ctx, "crewtrace ui to print its URL", func(context.Context) (bool, string, error) {
		if m := viewerLine.FindStringSubmatch(p.Log()); m != nil {
			url = m[1]
			return true, "", nil
		}
		if !p.Running() {
			return false, "", fmt.Errorf("harness: crewtrace ui exited: %v\n%s", p.ExitErr(), p.LogTail(20))
		}
		return false, "no serving line yet", nil
	})
	if err != nil {
		_ = p.Stop(0)
		return nil, "", err
	}
	return p, url, nil
}
