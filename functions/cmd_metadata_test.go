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

// TestMain lets a test run this binary's main() as the idpkeeper command
// (IDPKEEPER_TEST_RUN_MAIN=1), so signal handling is tested on the real
// entry point without building a second binary.
func TestMain(m *testing.M) {
	if os.Getenv("IDPKEEPER_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestMetadataInspectExitsOnSIGTERM: SIGTERM in the middle of reading a
// metadata document ends `idpkeeper metadata inspect` (exit 3, "the
// document could not be read"), whether the read is busy (a document that
// keeps coming) or blocked (a FIFO that sends nothing more).
func TestMetadataInspectExitsOnSIGTERM(t *testing.T) {
	const head = `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:slow">`
	for _, busy := range []bool{true, false} {
		name := map[bool]string{true: "busy parsing", false: "blocked reading"}[busy]
		t.Run(name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "metadata.xml")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Skipf("no FIFOs here: %v", err)
			}
			cmd := exec.Command(os.Args[0], "metadata", "inspect", fifo)
			cmd.Env = append(os.Environ(), "IDPKEEPER_TEST_RUN_MAIN=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // returns once inspect has opened it
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := w.WriteString(head); err != nil {
				t.Fatal(err)
			}
			wrote := make(chan struct{})
			if busy {
				go func() {
					chunk := []byte(strings.Repeat("<md:Extensions/>", 4096))
					for i := 0; ; i++ {
						if _, err := w.Write(chunk); err != nil {
							return // inspect is gone
						}
						if i == 64 {
							close(wrote) // well into the document
						}
					}
				}()
			} else {
				close(wrote)
			}
			<-wrote
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second): // a hang guard, not a speed goal
				t.Fatal("inspect did not exit after SIGTERM")
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 3 {
				t.Fatalf("exit: %v (want status 3)\nstderr: %s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "canceled") && !strings.Contains(stderr.String(), "interrupted") {
				t.Fatalf("stderr should say reading was stopped: %s", stderr.String())
			}
		})
	}
}
