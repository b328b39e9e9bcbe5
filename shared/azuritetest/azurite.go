// Package azuritetest starts a real Azurite blob service for a test and
// stops it afterwards. Azurite is installed by `make tools` (npm, into
// .ci/node_modules); tests that need it fail with that instruction when it is
// missing rather than passing without having run.
package azuritetest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Account is the emulator's public development account.
const (
	AccountName = "devstoreaccount1"
	accountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==" // gitleaks:allow public Azurite key
)

// Binary finds azurite-blob: $AZURITE_BLOB, then .ci/node_modules/.bin above
// the working directory, then PATH.
func Binary() (string, error) {
	if p := os.Getenv("AZURITE_BLOB"); p != "" {
		return p, nil
	}
	dir, _ := os.Getwd()
	for {
		cand := filepath.Join(dir, ".ci", "node_modules", ".bin", "azurite-blob")
		if _, err := os.Stat(cand); err == nil {
			return cand, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("azurite-blob not found: run `make tools` (npm install --prefix .ci) or set AZURITE_BLOB")
}

// Start runs azurite-blob on a free loopback port with in-memory storage and
// returns a connection string for it. The process ends with the test.
//
// The port is found free and then handed to Azurite, so another process (a
// parallel test package starting its own Azurite) can take it in between.
// Azurite then exits with EADDRINUSE while the port answers — the other's.
// So a start counts only when our process holds the listening socket
// (listening), and a lost port is retried on a new one.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	const attempts = 5
	for attempt := 1; ; attempt++ {
		addr, output, err := start(t, bin)
		if err == nil {
			return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=http://%s/%s;", AccountName, accountKey, addr, AccountName)
		}
		if !errors.Is(err, errPortTaken) || attempt == attempts {
			t.Fatalf("azurite on %s: %v; output:\n%s", addr, err, output)
		}
		t.Logf("azurite lost port %s to another process; retrying on another port", addr)
	}
}

var errPortTaken = errors.New("the port was taken by another process")

func start(t testing.TB, bin string) (addr string, output string, err error) {
	port := freePort(t)
	addr = "127.0.0.1:" + strconv.Itoa(port)
	var out syncBuffer
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
		"--inMemoryPersistence", "--skipApiVersionCheck", "--disableProductStyleUrl", "--silent")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return addr, "", fmt.Errorf("start: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	failed := func() (string, string, error) {
		stop()
		if strings.Contains(out.String(), "EADDRINUSE") {
			return addr, out.String(), errPortTaken
		}
		return addr, out.String(), errors.New("azurite exited")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return failed()
		default:
		}
		if listening(cmd.Process.Pid, port) {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return addr, out.String(), errors.New("did not listen within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-exited:
		return failed()
	default:
	}
	t.Cleanup(stop)
	return addr, "", nil
}

// freePort is a variable so a test can hand out a port that is taken.
var freePort = func(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listening reports whether process pid holds a socket listening on the
// loopback port. On Linux the kernel says which: the listening socket's
// inode in /proc/net/tcp is one of the process's file descriptors (node
// runs as the process itself; the npm shim is a symlink to a script with a
// shebang). Elsewhere the port answering must do: a moment's wait lets a
// process that lost the port exit first.
func listening(pid, port int) bool {
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		time.Sleep(time.Second)
		return true // start checks once more that the process still runs
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	inodes := map[string]bool{}
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) >= 10 && f[1] == want && f[3] == "0A" {
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return false
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && inodes[target] {
			return true
		}
	}
	return false
}
