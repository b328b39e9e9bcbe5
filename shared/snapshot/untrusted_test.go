package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/snapshot"
)

const manifest = `{"formatVersion": 1, "capturedAt": "2026-11-20T06:00:00Z"}`

const goodResponse = `{"method": "GET", "url": "https://graph.microsoft.com/v1.0/identity/identityProviders", "status": 200, "body": {"value": []}}`

// newSnapshot writes a manifest and one good response into a fresh folder.
func newSnapshot(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "responses"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "snapshot.json"), manifest)
	write(t, filepath.Join(dir, "responses", "graph-idps.json"), goodResponse)
	return dir
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A response that is a symbolic link is refused, not followed: it could
// point at any file the process can read, and its content would then be
// served (or quoted) as a tenant answer.
func TestSymlinkedResponseRefused(t *testing.T) {
	dir := newSnapshot(t)
	if _, _, err := snapshot.Open(dir); err != nil {
		t.Fatalf("the good snapshot does not open: %v", err)
	}
	secret := filepath.Join(t.TempDir(), "secret.json")
	write(t, secret, "SEKRET-CANARY the key is 0xdeadbeef")
	link := filepath.Join(dir, "responses", "vault-secrets.json")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	_, _, err := snapshot.Open(dir)
	if err == nil || !strings.Contains(err.Error(), "vault-secrets.json: is a symbolic link") {
		t.Fatalf("symlinked response: %v", err)
	}
	assertNoContent(t, err, "SEKRET", "0xdeadbeef")

	// A link to a good response is refused as well: the rule is about the
	// file's kind, not what it points at.
	os.Remove(link)
	os.Symlink(filepath.Join(dir, "responses", "graph-idps.json"), link)
	if _, _, err := snapshot.Open(dir); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("symlink to a good response: %v", err)
	}
	os.Remove(link)

	// The manifest and the responses folder follow the same rule.
	moved := filepath.Join(t.TempDir(), "snapshot.json")
	os.Rename(filepath.Join(dir, "snapshot.json"), moved)
	os.Symlink(moved, filepath.Join(dir, "snapshot.json"))
	if _, _, err := snapshot.Open(dir); err == nil || !strings.Contains(err.Error(), "snapshot.json: is a symbolic link") {
		t.Fatalf("symlinked manifest: %v", err)
	}
	os.Remove(filepath.Join(dir, "snapshot.json"))
	os.Rename(moved, filepath.Join(dir, "snapshot.json"))

	other := t.TempDir()
	os.Rename(filepath.Join(dir, "responses"), filepath.Join(other, "responses"))
	os.Symlink(filepath.Join(other, "responses"), filepath.Join(dir, "responses"))
	if _, _, err := snapshot.Open(dir); err == nil || !strings.Contains(err.Error(), "responses is a symbolic link") {
		t.Fatalf("symlinked responses folder: %v", err)
	}
}

// A FIFO would block the reader forever and a directory is not a file:
// both are refused by kind, before anything is opened.
func TestNonRegularResponsesRefused(t *testing.T) {
	dir := newSnapshot(t)
	fifo := filepath.Join(dir, "responses", "stuck.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := snapshot.Open(dir); err == nil || !strings.Contains(err.Error(), "stuck.json: is a named pipe") {
		t.Fatalf("FIFO: %v", err)
	}
	os.Remove(fifo)
	os.Mkdir(filepath.Join(dir, "responses", "folder.json"), 0o755)
	if _, _, err := snapshot.Open(dir); err == nil || !strings.Contains(err.Error(), "folder.json: is a directory") {
		t.Fatalf("directory: %v", err)
	}
}

// A response file that does not parse is named with the reason; not one
// byte of it appears in the error (the old message quoted the first
// character, "invalid character 'S'").
func TestParseErrorsDoNotLeakContent(t *testing.T) {
	for name, content := range map[string]string{
		"first byte":         "S3CR3T-value",
		"number":             `{"method": "GET", "url": "https://graph.microsoft.com/x", "status": 12345678901234567890}`,
		"number as string":   `{"method": "GET", "url": "https://graph.microsoft.com/x", "status": "SEKRET"}`,
		"time in manifest":   `MANIFEST{"formatVersion": 1, "capturedAt": "SEKRET"}`,
		"truncated":          `{"method": "GET", "url": "SEKRET`,
		"trailing garbage":   goodResponse + `SEKRET`,
		"not an object":      `["SEKRET"]`,
		"status out of band": `{"method": "GET", "url": "https://graph.microsoft.com/x", "status": 7}`,
	} {
		dir := newSnapshot(t)
		target := filepath.Join(dir, "responses", "bad.json")
		if rest, ok := strings.CutPrefix(content, "MANIFEST"); ok {
			target, content = filepath.Join(dir, "snapshot.json"), rest
		}
		write(t, target, content)
		_, _, err := snapshot.Open(dir)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), filepath.Base(target)) {
			t.Errorf("%s: the error does not name the file: %v", name, err)
		}
		assertNoContent(t, err, "SEKRET", "S3CR3T", "12345678901234567890", `'S'`)
	}
}

// A manifest from the far future (or past) is refused: a year past 9999
// cannot be written as JSON, which used to dead-letter every job of a run.
func TestManifestCaptureTimeInRange(t *testing.T) {
	for _, at := range []string{"9999-12-31T00:00:00Z", "0001-01-01T00:00:01Z", "1999-12-31T23:59:59Z"} {
		dir := newSnapshot(t)
		write(t, filepath.Join(dir, "snapshot.json"), `{"formatVersion": 1, "capturedAt": "`+at+`"}`)
		if _, _, err := snapshot.Open(dir); err == nil || !strings.Contains(err.Error(), "capturedAt is outside 2000-01-01 to 2200-01-01") {
			t.Errorf("capturedAt %s: %v", at, err)
		}
	}
}

// Files over the limit are refused from their size, before reading.
func TestOversizedFilesRefused(t *testing.T) {
	dir := newSnapshot(t)
	big := filepath.Join(dir, "responses", "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(snapshot.MaxResponseBytes + 1) // sparse
	f.Close()
	if _, _, err := snapshot.Open(dir); err == nil || !strings.Contains(err.Error(), "big.json: 268435457 bytes is over the 268435456 byte limit") {
		t.Fatalf("oversized response: %v", err)
	}
	os.Remove(big)
	write(t, filepath.Join(dir, "snapshot.json"), manifest+string(bytes.Repeat([]byte(" "), snapshot.MaxManifestBytes)))
	if _, _, err := snapshot.Open(dir); err == nil || !strings.Contains(err.Error(), "snapshot.json: 1048634 bytes is over") {
		t.Fatalf("oversized manifest: %v", err)
	}
}

func assertNoContent(t *testing.T, err error, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if strings.Contains(err.Error(), f) {
			t.Errorf("error quotes the file's content (%q): %v", f, err)
		}
	}
}

// FuzzOpen feeds arbitrary manifests and response files to the reader: it
// must never panic, and an error must never carry the canary planted in the
// file.
func FuzzOpen(f *testing.F) {
	f.Add([]byte(manifest), []byte(goodResponse), uint16(10))
	f.Add([]byte(manifest), []byte(`{"method":"GET","url":"https://x.vault.azure.net/secrets?api-version=7.4","status":200,"bodyText":"<xml/>"}`), uint16(50))
	f.Add([]byte(manifest), []byte(`{"method":"GET","url":"%zz","status":200}`), uint16(0))
	f.Add([]byte(`{"formatVersion":1,"capturedAt":"2026-11-20T06:00:00+01:00","keyVaults":["a"],"responses":1}`), []byte(`{"status":1e400}`), uint16(3))
	f.Add([]byte(`{}`), []byte(`[]`), uint16(1))
	const canary = "QX7CANARYZ9"
	dir := f.TempDir()
	os.MkdirAll(filepath.Join(dir, "responses"), 0o755)
	f.Fuzz(func(t *testing.T, man, resp []byte, at uint16) {
		// Plant the canary in whichever file the position falls into.
		plant := func(b []byte, pos int) []byte {
			pos %= len(b) + 1
			return append(append(append([]byte{}, b[:pos]...), canary...), b[pos:]...)
		}
		if int(at)%2 == 0 {
			resp = plant(resp, int(at)/2)
		} else {
			man = plant(man, int(at)/2)
		}
		if err := os.WriteFile(filepath.Join(dir, "snapshot.json"), man, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "responses", "r.json"), resp, 0o600); err != nil {
			t.Fatal(err)
		}
		_, m, err := snapshot.Open(dir)
		if err != nil {
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), canary[:4]) {
				t.Fatalf("error leaks file content: %v", err)
			}
			return
		}
		if m.CapturedAt.Year() < 2000 || m.CapturedAt.Year() > 2200 {
			t.Fatalf("capture time %v accepted", m.CapturedAt)
		}
	})
}

// A cancelled context (SIGINT/SIGTERM in the command line) stops the read.
func TestOpenStopsOnCancel(t *testing.T) {
	dir := newSnapshot(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := snapshot.OpenContext(ctx, dir); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
