package harness

import (
	"fmt"
	"net"
)

// FreeAddr returns a loopback address ("127.0.0.1:port") whose port the
// kernel reported free: it listens on 127.0.0.1:0 and closes the listener.
// Another process may take the port before the caller binds it; the window is
// small, and a process that then fails to bind exits with an error that
// Process and WaitHTTP report rather than hang on.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("harness: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// FreeAddrs returns n distinct free loopback addresses. It holds all n
// listeners open until it has them, so the addresses differ.
func FreeAddrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("harness: pick a free port: %w", err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}
