package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/internal/testdocker"
)

// A daemon on 127.0.0.1 with TLS (certificates made here): whalewatch
// connects with verification and reports its deaths; with the files of
// another CA it refuses the daemon's certificate, says so naming the host,
// and reports nothing from it.
func TestTLSDaemonIsVerified(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "whalewatch test CA")
	ca.issue(t, filepath.Join(dir, "server"), "127.0.0.1", x509.ExtKeyUsageServerAuth)
	good := filepath.Join(dir, "good")
	ca.issue(t, good, "client", x509.ExtKeyUsageClientAuth)
	other := newCA(t, "another CA")
	wrong := filepath.Join(dir, "wrong")
	other.issue(t, wrong, "client", x509.ExtKeyUsageClientAuth)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	d := testdocker.StartPrivateDaemon(t, strings.Join([]string{"--host", "tcp://" + addr, "--tlsverify",
		"--tlscacert", filepath.Join(dir, "server", "ca.pem"), "--tlscert", filepath.Join(dir, "server", "cert.pem"),
		"--tlskey", filepath.Join(dir, "server", "key.pem")}, " "))
	c := d.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 0, nil)

	start(t, ungrouped("WEBHOOK_URL="+sink.URL, "DOCKER_HOSTS=secure=tcp://"+addr, "DOCKER_SECURE_CERT_PATH="+good)...)
	crash := testdocker.Run(t, c, testdocker.Spec{Name: "tls-crash", Args: []string{"exit", "3"}})
	eventually(t, "the death over TLS", 30*time.Second, func() bool { return len(sink.about(crash.Name)) == 1 })
	if got := sink.about(crash.Name)[0]; got.Host != "secure" {
		t.Errorf("host %q", got.Host)
	}

	p := launch(t, ungrouped("WEBHOOK_URL="+sink.URL, "DOCKER_HOSTS=secure=tcp://"+addr, "DOCKER_SECURE_CERT_PATH="+wrong)...)
	eventually(t, "the refused certificate, logged", 30*time.Second, func() bool {
		return strings.Contains(p.logs(), "host=secure") && strings.Contains(p.logs(), "certificate signed by unknown authority")
	})
	if strings.Contains(p.logs(), "docker event stream open") {
		t.Error("the stream opened with the wrong CA")
	}
}

// DOCKER_HOST=tcp:// with DOCKER_TLS_VERIFY=1 and no DOCKER_CERT_PATH:
// the TLS files come from ~/.docker, as the docker CLI does, and the
// daemon's certificate is verified (the Docker client library alone would
// talk plain TCP to it). A plain tcp:// DOCKER_HOST is warned about.
func TestTLSVerifyReadsTheDockerDirectory(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "whalewatch test CA")
	ca.issue(t, filepath.Join(dir, "server"), "127.0.0.1", x509.ExtKeyUsageServerAuth)
	home := filepath.Join(dir, "home")
	ca.issue(t, filepath.Join(home, ".docker"), "client", x509.ExtKeyUsageClientAuth)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	d := testdocker.StartPrivateDaemon(t, strings.Join([]string{"--host", "tcp://" + addr, "--tlsverify",
		"--tlscacert", filepath.Join(dir, "server", "ca.pem"), "--tlscert", filepath.Join(dir, "server", "cert.pem"),
		"--tlskey", filepath.Join(dir, "server", "key.pem")}, " "))
	c := d.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 0, nil)

	start(t, ungrouped("WEBHOOK_URL="+sink.URL, "DOCKER_HOST=tcp://"+addr, "DOCKER_TLS_VERIFY=1", "HOME="+home, "HOST_NAME=verified")...)
	crash := testdocker.Run(t, c, testdocker.Spec{Name: "tls-home-crash", Args: []string{"exit", "3"}})
	eventually(t, "the death over TLS with ~/.docker", 30*time.Second, func() bool { return len(sink.about(crash.Name)) == 1 })
	if got := sink.about(crash.Name)[0]; got.Host != "verified" {
		t.Errorf("host %q", got.Host)
	}

	p := launch(t, ungrouped("WEBHOOK_URL="+sink.URL, "DOCKER_HOST=tcp://"+addr, "HOST_NAME=plain")...)
	eventually(t, "the plain TCP warning", 15*time.Second, func() bool {
		return strings.Contains(p.logs(), "without TLS") && strings.Contains(p.logs(), "docker_host=tcp://"+addr)
	})
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes ca.pem, cert.pem and key.pem for name (an IP makes a server
// certificate for it) into dir.
func (ca *testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for file, data := range map[string][]byte{
		"ca.pem":   ca.pem,
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
