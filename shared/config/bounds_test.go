package config

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// billionLaughs is the classic exponential-entity shape in YAML: nine
// levels of nine aliases each, 9^9 ≈ 387 million leaves from ~335 bytes.
const billionLaughs = `version: 1
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

// The nested-alias file is refused by the node budget, naming the limit.
// (It used to run for half an hour and 13 GB; a regression shows up as this
// test timing out, not as a tight timer here.)
func TestBillionLaughsRefused(t *testing.T) {
	if len(billionLaughs) > 400 {
		t.Fatalf("the input is %d bytes; the point is that it is tiny", len(billionLaughs))
	}
	path := filepath.Join(t.TempDir(), "laughs.yaml")
	if err := os.WriteFile(path, []byte(billionLaughs), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	wantProblems(t, err, path+": the document expands to more than 100000 YAML nodes")

	// Deep nesting through aliases is measured the same way.
	deep := "version: 1\nx: &x0 [1]\n"
	for i := 1; i <= 70; i++ {
		deep += "y" + itoa(i) + ": &x" + itoa(i) + " [*x" + itoa(i-1) + "]\n"
	}
	_, err = Parse("deep.yaml", []byte(deep))
	wantProblems(t, err, "deep.yaml: the document is nested more than 64 levels deep")
}

func itoa(i int) string { return strconv.Itoa(i) }

// A file over 1 MB is refused from its size, unread.
func TestHugeFileRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yaml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: 64 GB on paper, nothing on disk. Reading it would take
	// minutes; the size check answers at once.
	if err := f.Truncate(64 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Load(path)
	wantProblems(t, err, path+": the file is 68719476736 bytes: a config file may be at most 1048576 bytes (1 MB)")

	// Just over the limit, with valid YAML: the limit is the reason.
	body := "version: 1\n# " + strings.Repeat("x", MaxFileBytes) + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	wantProblems(t, err, path+": the file is")
	_, err = Parse("inline.yaml", []byte(body))
	wantProblems(t, err, "inline.yaml: "+itoa(len(body))+" bytes: a config file may be at most 1048576 bytes")
}

// An endless device is read up to the limit and refused; a directory is
// named as such.
func TestNonRegularFiles(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero on this system")
	}
	_, err := Load("/dev/zero")
	wantProblems(t, err, "/dev/zero: it holds more: a config file may be at most 1048576 bytes (1 MB)")

	_, err = Load(t.TempDir())
	wantProblems(t, err, "")
	if !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("directory: %v", err)
	}

	// A pipe with a valid config works (`--config <(generate-config)`).
	fifo := filepath.Join(t.TempDir(), "config.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		w.WriteString("version: 1\n")
		w.Close()
	}()
	if cfg, err := Load(fifo); err != nil || cfg.Version != 1 {
		t.Fatalf("config from a pipe: %v", err)
	}
}

// A read that never delivers (a FIFO nobody writes) gives up when the
// context is cancelled, as on SIGINT/SIGTERM.
func TestLoadStopsOnCancel(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "stuck.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := LoadContext(ctx, fifo)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("returned before cancel: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	err := <-done // a hang here fails the test by its timeout
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	// Unblock the abandoned open so the goroutine ends with the test.
	if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		w.Close()
	}

	// A parse the YAML decoder is busy with (a megabyte of keys takes it a
	// good part of a second, more on a loaded machine) returns as soon as
	// the context is cancelled.
	busy := []byte("version: 1\n" + strings.Repeat("k: 1\n", (MaxFileBytes-20)/5))
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(5*time.Millisecond, cancel)
	if _, err := parse(ctx, "busy.yaml", busy, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("busy parse: got %v, want context.Canceled", err)
	}

	// A parse started with a cancelled context does not get going.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := parse(ctx, "c.yaml", []byte("version: 1\n"), false); !errors.Is(err, context.Canceled) {
		t.Fatalf("parse with a cancelled context: %v", err)
	}
}

// Durations that do not fit a time.Duration are refused, not wrapped.
func TestDurationOverflow(t *testing.T) {
	for _, in := range []string{
		"213504d",                // wrapped to ~25 minutes before
		"106752d",                // one day past the largest
		"99999999999999999999d",  // past int64
		"106751d24h",             // days fit, days + hours do not
		"2562048h",               // past time.Duration in hours alone
		"-213504d",               // negative the same
		"9223372036854775807ns0", // malformed and long: invalid
	} {
		d, err := ParseDuration(in)
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
	d, err := ParseDuration("106751d")
	if err != nil || d != 106751*24*time.Hour {
		t.Errorf("largest day count: %v %v", d, err)
	}
	if _, err := ParseDuration("213504d"); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("overflow not named: %v", err)
	}
	if _, err := ParseDuration("3x"); err == nil || !strings.Contains(err.Error(), "invalid duration") {
		t.Errorf("typo reported as %v", err)
	}
	if d, err := ParseDuration("106751d23h47m16s"); err != nil || d > math.MaxInt64 {
		t.Errorf("the largest representable value: %v %v", d, err)
	}

	// Through the file: the "at most a year" check cannot be bypassed.
	_, err = Parse("idpkeeper.yaml", []byte("version: 1\ndefaults:\n  leadTime: 213504d\n"))
	wantProblems(t, err, `idpkeeper.yaml:3: defaults.leadTime: duration "213504d" is too long`)
	// Escalation days are bounded too (they become durations in the notice
	// stage).
	_, err = Parse("idpkeeper.yaml", []byte("version: 1\ndefaults:\n  escalationDays: [9223372036854775807, 30]\n"))
	wantProblems(t, err, "idpkeeper.yaml:3: defaults.escalationDays[0]: 9223372036854775807: more than 365 days before the due date")
}

func TestNetworkGuardInConfig(t *testing.T) {
	dep := func(url, allow string) string {
		y := base + "dependencies:\n  - ref: federation/fabrikam.example\n    owner: carol\n    metadata:\n      url: " + url + "\n"
		if allow != "" {
			y += "      allowNetworks: [" + allow + "]\n"
		}
		return y
	}
	_, err := Parse("idpkeeper.yaml", []byte(dep("https://169.254.169.254/metadata.xml", "")))
	wantProblems(t, err, "idpkeeper.yaml:11: dependencies[0].metadata.url: address 169.254.169.254 refused: it is link-local")
	_, err = Parse("idpkeeper.yaml", []byte(dep("https://[::1]:8443/md.xml", "")))
	wantProblems(t, err, "idpkeeper.yaml:11: dependencies[0].metadata.url: address ::1 refused: it is loopback")
	// The metadata endpoint cannot be allowed, not even through a broad net.
	_, err = Parse("idpkeeper.yaml", []byte(dep("https://169.254.169.254/", "0.0.0.0/0")))
	wantProblems(t, err,
		"idpkeeper.yaml:11: dependencies[0].metadata.url: address 169.254.169.254 refused",
		`idpkeeper.yaml:12: dependencies[0].metadata.allowNetworks[0]: "0.0.0.0/0" includes 169.254.169.254`)
	_, err = Parse("idpkeeper.yaml", []byte(dep("https://10.20.1.7/md.xml", "corp-net")))
	wantProblems(t, err, "idpkeeper.yaml:11: dependencies[0].metadata.url: address 10.20.1.7 refused: it is private",
		`idpkeeper.yaml:12: dependencies[0].metadata.allowNetworks[0]: "corp-net" is not a network`)
	// Allowed explicitly: accepted, and the policy carries the network.
	cfg, err := Parse("idpkeeper.yaml", []byte(dep("https://10.20.1.7/md.xml", "10.20.0.0/16")))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Dependencies[0].Metadata.Policy(); len(p.Allow) != 1 || p.CheckHost("10.20.1.7") != nil || p.CheckHost("10.21.0.1") == nil {
		t.Fatalf("policy %+v", p)
	}
	// Names pass validation; they are checked when dialled.
	if _, err := Parse("idpkeeper.yaml", []byte(dep("https://localhost/md.xml", ""))); err != nil {
		t.Fatal(err)
	}

	hook := "version: 1\nnotifications:\n  webhook:\n    url: https://10.0.0.9/hook?sig=SEKRET\n"
	_, err = Parse("idpkeeper.yaml", []byte(hook))
	wantProblems(t, err, "idpkeeper.yaml:4: notifications.webhook.url: address 10.0.0.9 refused: it is private")
	if strings.Contains(err.Error(), "SEKRET") {
		t.Fatalf("error echoes the webhook URL: %v", err)
	}
	if _, err := Parse("idpkeeper.yaml", []byte(hook+"    allowNetworks: [10.0.0.9]\n")); err != nil {
		t.Fatalf("allowed webhook refused: %v", err)
	}
}
