package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// --now outside 2000–2200 is a usage error (exit 2) naming the range, for
// scan and for run (which used to dead-letter every job, silently, on a
// year that JSON cannot hold).
func TestNowOutOfRange(t *testing.T) {
	for _, args := range [][]string{
		{"scan", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--now", "0000-01-01"},
		{"scan", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--now", "1999-12-31T23:59:59Z"},
		{"scan", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--now", "2200-01-02"},
		{"run", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--state", t.TempDir(), "--outbox", t.TempDir(), "--now", "9999-12-31"},
		{"metadata", "plan", "Fabrikam", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--now", "9999-12-31"},
	} {
		code, out, errOut := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(errOut, "--now") || !strings.Contains(errOut, "outside the supported range 2000-01-01 to 2200-01-01") {
			t.Errorf("%v: exit %d\nstderr: %s", args, code, errOut)
		}
		if out != "" {
			t.Errorf("%v printed a report: %s", args, out)
		}
	}
	// The edges are inside.
	for _, now := range []string{"2000-01-01", "2200-01-01T00:00:00Z"} {
		if code, _, errOut := runCLI(t, "scan", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--now", now); code != exitOK {
			t.Errorf("--now %s: exit %d: %s", now, code, errOut)
		}
	}
}

// Config files that would hang or exhaust memory are refused as bad config
// (exit 2) with the limit named.
func TestCLIRefusesUnboundedConfig(t *testing.T) {
	dir := t.TempDir()
	laughs := filepath.Join(dir, "laughs.yaml")
	y := "version: 1\na: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
	for i, c := range "bcdefghi" {
		prev := string("abcdefgh"[i])
		y += string(c) + ": &" + string(c) + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ",") + "]\n"
	}
	if err := os.WriteFile(laughs, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.yaml")
	if err := os.WriteFile(huge, bytes.Repeat([]byte("# padding\n"), 200_000), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{laughs, "expands to more than 100000 YAML nodes"},
		{"/dev/zero", "a config file may be at most 1048576 bytes"},
		{huge, "the file is 2000000 bytes: a config file may be at most 1048576 bytes"},
	} {
		code, _, errOut := runCLI(t, "scan", "--snapshot", exampleSnapshot, "--config", tc.path)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, tc.path) {
			t.Errorf("--config %s: exit %d\n%s", tc.path, code, errOut)
		}
	}
}

// helperEnv marks the test binary re-run as the idpkeeper binary.
const helperEnv = "IDPKEEPER_TEST_SIGNAL_HELPER"

// SIGTERM while a command is stuck reading its config (a FIFO that delivers
// the first line and then stalls) ends the process within a second, through
// the real main and its signal context. The helper is this test binary,
// re-run with -test.run so that it calls main.
func TestSignalStopsConfigRead(t *testing.T) {
	if fifo := os.Getenv(helperEnv); fifo != "" {
		os.Args = []string{"idpkeeper", "scan", "--snapshot", exampleSnapshot, "--config", fifo}
		main() // exits
		return
	}
	fifo := filepath.Join(t.TempDir(), "config.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSignalStopsConfigRead$")
		cmd.Env = append(os.Environ(), helperEnv+"="+fifo)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Opening the write end waits until the helper opened the read end:
		// from then on it is inside the config read.
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString("version: 1\ndefaults:\n")
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case err := <-waited:
			t.Fatalf("helper ended before the signal: %v\n%s", err, stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
		sent := time.Now()
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		var exitErr *exec.ExitError
		select {
		case err := <-waited:
			took := time.Since(sent)
			t.Logf("%v: exited %v after %v: %s", sig, err, took, strings.TrimSpace(stderr.String()))
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitRead {
				t.Errorf("%v: exit %v, want status %d", sig, err, exitRead)
			}
			if !strings.Contains(stderr.String(), "not read") {
				t.Errorf("%v: stderr does not say the config was not read: %s", sig, stderr.String())
			}
			if took > time.Second {
				t.Errorf("%v: took %v to stop, want within a second", sig, took)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v: still running 10 s after the signal\n%s", sig, stderr.String())
		}
		w.Close()
	}
}
