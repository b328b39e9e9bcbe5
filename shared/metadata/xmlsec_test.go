package metadata

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// xmlsec1 (Debian package xmlsec1, installed by .ci/run) signs the fixtures
// of the hardening tests and is the reference verifier of the differential
// fuzz target: an independent implementation (libxml2 + OpenSSL) of what
// this package does by hand.

var (
	xmlsecOnce sync.Once
	xmlsecBin  string
)

// xmlsecPath returns the xmlsec1 binary, or skips the test when it is not
// installed — and fails instead in CI (CI set, as .ci/run sets it), where
// .ci/run installs it, so a missing install step cannot pass unseen.
func xmlsecPath(t testing.TB) string {
	t.Helper()
	xmlsecOnce.Do(func() { xmlsecBin, _ = exec.LookPath("xmlsec1") })
	if xmlsecBin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("xmlsec1 is not installed but CI is set: .ci/run should have installed the Debian package xmlsec1")
		}
		t.Skip("xmlsec1 is not installed (Debian package xmlsec1; .ci/run installs it): nothing to sign or compare with")
	}
	return xmlsecBin
}

// pemFiles writes the key's private key and certificate as PEM files.
func (k *testKey) pemFiles(t testing.TB) (keyFile, certFile string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile, certFile = filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.der()}), 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile, certFile
}

// The ID attributes xmlsec1 resolves "#id" references with.
var xmlsecIDAttrs = []string{
	"--id-attr:ID", nsMD + ":EntitiesDescriptor",
	"--id-attr:ID", nsMD + ":EntityDescriptor",
}

// runXMLSec runs xmlsec1 with a deadline; it reports whether it exited 0,
// and its combined output.
func runXMLSec(t testing.TB, args ...string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, xmlsecPath(t), args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("xmlsec1 %v: %v", args, ctx.Err())
	}
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("xmlsec1: %v", err)
		}
	}
	return err == nil, string(out)
}

// xmlsecSign signs a document whose ds:Signature template (sigTemplate) is
// in place. ok is false when xmlsec1 could not sign it (libxml2 refused
// the document, or the template).
func xmlsecSign(t testing.TB, template []byte, k *testKey) (signed []byte, ok bool, log string) {
	t.Helper()
	keyFile, certFile := k.pemFiles(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.xml"), filepath.Join(dir, "out.xml")
	if err := os.WriteFile(in, template, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--sign", "--privkey-pem", keyFile + "," + certFile}, xmlsecIDAttrs...)
	ok, log = runXMLSec(t, append(args, "--output", out, in)...)
	if !ok {
		return nil, false, log
	}
	signed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return signed, true, log
}

// mustXMLSecSign is xmlsecSign for fixtures that must sign.
func mustXMLSecSign(t testing.TB, template string, k *testKey) []byte {
	t.Helper()
	signed, ok, log := xmlsecSign(t, []byte(template), k)
	if !ok {
		t.Fatalf("xmlsec1 could not sign the fixture:\n%s\n%s", log, template)
	}
	return signed
}

// xmlsecVerify verifies a document's signature with the key's public key
// (the KeyInfo certificate is not trusted by itself).
func xmlsecVerify(t testing.TB, doc []byte, k *testKey) (bool, string) {
	t.Helper()
	_, certFile := k.pemFiles(t)
	in := filepath.Join(t.TempDir(), "in.xml")
	if err := os.WriteFile(in, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--verify", "--pubkey-cert-pem", certFile}, xmlsecIDAttrs...)
	return runXMLSec(t, append(args, in)...)
}

// sigTmpl describes a ds:Signature template for xmlsec1 to fill in.
type sigTmpl struct {
	c14n       string // CanonicalizationMethod and the Reference's C14N transform
	prefixList string // InclusiveNamespaces PrefixList for both (exclusive only)
	method     string // SignatureMethod
	digest     string // DigestMethod
	uri        string // Reference URI
}

const (
	digestSHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
	digestSHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
	rsaSHA512URI = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	ecSHA512     = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
)

func (s sigTmpl) xml() string {
	if s.c14n == "" {
		s.c14n = algExcC14N
	}
	if s.method == "" {
		s.method = rsaSHA256
	}
	if s.digest == "" {
		s.digest = digestSHA256
	}
	incl := ""
	if s.prefixList != "" {
		incl = fmt.Sprintf(`<ec:InclusiveNamespaces xmlns:ec="%s" PrefixList="%s"/>`, nsExcC, s.prefixList)
	}
	return `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
		`<ds:CanonicalizationMethod Algorithm="` + s.c14n + `">` + incl + `</ds:CanonicalizationMethod>` +
		`<ds:SignatureMethod Algorithm="` + s.method + `"/>` +
		`<ds:Reference URI="` + s.uri + `"><ds:Transforms>` +
		`<ds:Transform Algorithm="` + algEnveloped + `"/>` +
		`<ds:Transform Algorithm="` + s.c14n + `">` + incl + `</ds:Transform>` +
		`</ds:Transforms><ds:DigestMethod Algorithm="` + s.digest + `"/><ds:DigestValue/></ds:Reference>` +
		`</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>`
}

// sigMarker marks where a fixture's root signature goes (the root's first
// child).
const sigMarker = "<!--SIG-->"

// withSignature puts the template at the marker.
func withSignature(doc string, s sigTmpl) string {
	return strings.Replace(doc, sigMarker, s.xml(), 1)
}

// xmlsecSigned signs doc (with a sigMarker) with xmlsec1.
func xmlsecSigned(t testing.TB, doc string, k *testKey, s sigTmpl) []byte {
	t.Helper()
	if !strings.Contains(doc, sigMarker) {
		t.Fatal("fixture has no signature marker")
	}
	return mustXMLSecSign(t, withSignature(doc, s), k)
}

// insertAfter inserts s after the first occurrence of anchor.
func insertAfter(t testing.TB, doc []byte, anchor, s string) []byte {
	t.Helper()
	i := bytes.Index(doc, []byte(anchor))
	if i < 0 {
		t.Fatalf("anchor %q not in the document", anchor)
	}
	i += len(anchor)
	return append(append(bytes.Clone(doc[:i]), s...), doc[i:]...)
}

// replaceOnce replaces the first occurrence of old, which must be there.
func replaceOnce(t testing.TB, doc []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(doc, []byte(old)) {
		t.Fatalf("%q not in the document", old)
	}
	return bytes.Replace(doc, []byte(old), []byte(new), 1)
}
