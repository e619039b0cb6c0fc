// Package storagetest is an in-memory storage extension for the exporter's
// crash-safety tests: it outlives the exporters using it, like file_storage's
// files outlive a process, and can make their clients fail as if their
// process had died.
package storagetest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// ErrCrashed is returned by every client handed out before a Crash.
var ErrCrashed = errors.New("storage client of a crashed process")

// Storage is an in-memory storage extension. Crash makes every client
// handed out so far fail, as if its process had died in the middle of
// whatever it was doing; clients obtained afterwards see the data as the
// crash left it.
type Storage struct {
	component.StartFunc
	component.ShutdownFunc

	mu   sync.Mutex
	gen  int
	data map[string]map[string][]byte // client name -> key -> value
	fail error                        // when set, every Batch fails with it
}

var _ storage.Extension = (*Storage)(nil)

// New returns an empty Storage.
func New() *Storage {
	return &Storage{data: map[string]map[string][]byte{}}
}

// GetClient implements storage.Extension; the client also implements
// storage.Walker.
func (s *Storage) GetClient(_ context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := kind.String() + "/" + id.String() + "/" + name
	if s.data[key] == nil {
		s.data[key] = map[string][]byte{}
	}
	return &client{s: s, name: key, gen: s.gen}, nil
}

// Crash makes every client handed out so far fail with ErrCrashed.
func (s *Storage) Crash() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
}

// SetFail makes every Batch fail with err (nil: succeed again).
func (s *Storage) SetFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// Keys returns the sorted keys of the clients whose name ends with suffix.
func (s *Storage) Keys(suffix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name, m := range s.data {
		if strings.HasSuffix(name, suffix) {
			out = append(out, slices.Collect(maps.Keys(m))...)
		}
	}
	slices.Sort(out)
	return out
}

// Get returns the value of key in the clients whose name ends with suffix.
func (s *Storage) Get(suffix, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, m := range s.data {
		if v, ok := m[key]; ok && strings.HasSuffix(name, suffix) {
			return slices.Clone(v), true
		}
	}
	return nil, false
}

// Set stores value under key in the client named name (as GetClient names
// it: kind/id/name), as another process could have left it.
func (s *Storage) Set(name, key string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data[name] == nil {
		s.data[name] = map[string][]byte{}
	}
	s.data[name][key] = slices.Clone(value)
}

type client struct {
	s    *Storage
	name string
	gen  int
}

var _ storage.Walker = (*client)(nil)

func (c *client) lock() (map[string][]byte, error) {
	c.s.mu.Lock()
	if c.gen != c.s.gen {
		c.s.mu.Unlock()
		return nil, ErrCrashed
	}
	return c.s.data[c.name], nil
}

func (c *client) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := c.Batch(ctx, op)
	return op.Value, err
}

func (c *client) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *client) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

func (c *client) Batch(_ context.Context, ops ...*storage.Operation) error {
	m, err := c.lock()
	if err != nil {
		return err
	}
	defer c.s.mu.Unlock()
	if c.s.fail != nil {
		return c.s.fail
	}
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = slices.Clone(m[op.Key])
		case storage.Set:
			m[op.Key] = slices.Clone(op.Value)
		case storage.Delete:
			delete(m, op.Key)
		}
	}
	return nil
}

func (c *client) Walk(_ context.Context, fn storage.WalkFunc) error {
	m, err := c.lock()
	if err != nil {
		return err
	}
	defer c.s.mu.Unlock()
	var ops []*storage.Operation
	for _, k := range slices.Sorted(maps.Keys(m)) {
		more, err := fn(k, m[k])
		if errors.Is(err, storage.SkipAll) {
			ops = append(ops, more...)
			break
		}
		if err != nil {
			return err
		}
		ops = append(ops, more...)
	}
	for _, op := range ops {
		switch op.Type {
		case storage.Set:
			m[op.Key] = op.Value
		case storage.Delete:
			delete(m, op.Key)
		}
	}
	return nil
}

func (c *client) Close(context.Context) error { return nil }
