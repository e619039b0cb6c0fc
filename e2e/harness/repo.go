package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrNoRepoRoot is returned by RepoRoot outside a crewtrace checkout.
var ErrNoRepoRoot = errors.New("harness: no crewtrace checkout (go.work and collector-config.yaml) above the working directory")

// RepoRoot returns the root of the crewtrace checkout: the nearest directory,
// from the working directory upwards, that holds both go.work and
// collector-config.yaml.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("harness: working directory: %w", err)
	}
	for {
		if isFile(filepath.Join(dir, "go.work")) && isFile(filepath.Join(dir, "collector-config.yaml")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoRepoRoot
		}
		dir = parent
	}
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
