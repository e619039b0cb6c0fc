package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/crewtrace/crewtrace/e2e/harness"
)

// TestOTLPReceiversRequireTLSAndToken runs the collector with
// deploy/otlp-tls-auth.yaml, the overlay DEPLOY.md gives for receivers that
// listen beyond loopback: over gRPC and HTTP, a request without the bearer
// token is refused (Unauthenticated / 401), a plaintext one fails, one with
// the token over TLS is accepted; and the example crew, configured by the
// standard OTEL_EXPORTER_OTLP_* variables (CA certificate, header), gets
// every session recorded.
func TestOTLPReceiversRequireTLSAndToken(t *testing.T) {
	ctx, env := newEnv(t)
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestPKI(t, dir)
	const token = "e2e-otlp-token-7f3a"
	tokenFile := filepath.Join(dir, "otlp.token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token), 0o600))

	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorConfigs: []string{
			filepath.Join(env.root, "collector-config.yaml"),
			filepath.Join(env.root, "deploy", "otlp-tls-auth.yaml"),
		},
		CollectorEnv: []string{
			harness.EnvGracePeriod + "=1s",
			"CREWTRACE_OTLP_TLS_CERT=" + certFile,
			"CREWTRACE_OTLP_TLS_KEY=" + keyFile,
			"CREWTRACE_OTLP_TOKEN_FILE=" + tokenFile,
		},
	})
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(caFile)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(ca))
	tlsCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	// gRPC.
	export := func(conn *grpc.ClientConn, md ...string) error {
		req := validTraceRequest()
		var out []byte
		cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, md...), 10*time.Second)
		defer cancel()
		return conn.Invoke(cctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", &req, &out, grpc.ForceCodecV2(rawCodec{}))
	}
	secure, err := grpc.NewClient(stack.Addrs.OTLPGRPC, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	require.NoError(t, err)
	defer secure.Close()
	assert.Equal(t, codes.Unauthenticated, status.Code(export(secure)), "gRPC over TLS without the token")
	assert.Equal(t, codes.Unauthenticated, status.Code(export(secure, "authorization", "Bearer wrong")), "gRPC with a wrong token")
	assert.NoError(t, export(secure, "authorization", "Bearer "+token), "gRPC over TLS with the token")
	plain, err := grpc.NewClient(stack.Addrs.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer plain.Close()
	assert.Error(t, export(plain, "authorization", "Bearer "+token), "plaintext gRPC, even with the token")

	// HTTP.
	post := func(client *http.Client, scheme, auth string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+"://"+stack.Addrs.OTLPHTTP+"/v1/traces", bytes.NewReader(validTraceRequest()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-protobuf")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	httpsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	code, err := post(httpsClient, "https", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code, "HTTPS without the token")
	code, err = post(httpsClient, "https", "Bearer "+token)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code, "HTTPS with the token")
	code, err = post(&http.Client{Timeout: 10 * time.Second}, "http", "Bearer "+token)
	assert.True(t, err != nil || code == http.StatusBadRequest, "plaintext HTTP is not served: %d %v", code, err)

	// The crew, configured the standard way.
	const sessions = 5
	env.runCrewWithEnv(t, ctx, stack, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=https://" + stack.Addrs.OTLPGRPC,
		"OTEL_EXPORTER_OTLP_INSECURE=false",
		"OTEL_EXPORTER_OTLP_CERTIFICATE=" + caFile,
		"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20" + token,
	}, "-tasks", fmt.Sprint(sessions), "-concurrency", "5", "-seed", "3", "-truth", env.truthPath())
	truth, err := harness.ReadTruth(env.truthPath())
	require.NoError(t, err)
	records := waitForRecords(t, ctx, stack.SessionsPath(), truth)
	for _, tr := range truth {
		checkRecord(t, tr, records[tr.SessionID])
	}
}

// runCrewWithEnv runs the example crew with extra environment (after the
// stack's, so it overrides it) and waits for it to succeed.
func (e testEnv) runCrewWithEnv(t *testing.T, ctx context.Context, stack *harness.Stack, extraEnv []string, args ...string) {
	t.Helper()
	waitCrew(t, ctx, e.startCrew(t, stack, extraEnv, args...))
}

// writeTestPKI writes a throw-away CA and a server certificate for
// 127.0.0.1 signed by it, and returns the CA, certificate and key files.
func writeTestPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "crewtrace e2e CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600))
		return p
	}
	return write("ca.crt", "CERTIFICATE", caDER), write("otlp.crt", "CERTIFICATE", der), write("otlp.key", "EC PRIVATE KEY", keyDER)
}
