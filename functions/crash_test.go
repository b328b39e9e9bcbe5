package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azuritetest"
	"github.com/idpkeeper/idpkeeper/shared/funchost"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// The helper processes of the concurrency and crash tests are this test
// binary, re-run with -test.run on one of the TestHelper functions below,
// which run the real code paths: `idpkeeper run` (run()), and the Functions
// app's router on Blob Storage (ScanTimer, then every queued job delivered
// to its function as the host would).
const (
	envHelperArgs  = "IDPKEEPER_TEST_HELPER_RUN"   // JSON array: the arguments of run()
	envHelperServe = "IDPKEEPER_TEST_HELPER_SERVE" // "1": the Functions app helper
	envHelperLease = "IDPKEEPER_TEST_HELPER_LEASE" // notice claim lease, e.g. "400ms"
	envHelperKill  = "IDPKEEPER_TEST_HELPER_KILL"  // N: SIGKILL itself right after the N-th send
)

// killAfter passes writes on and kills the process right after the at-th
// line containing match: for the Outbox's stdout line (`run`) and the state
// store channel's log line (the Functions app), that is after the channel
// accepted the notice and before the ledger marks it sent — the window in
// which a crash used to lose a notice.
type killAfter struct {
	w     io.Writer
	match []byte
	n, at int
}

func (k *killAfter) Write(p []byte) (int, error) {
	n, err := k.w.Write(p)
	if k.at > 0 {
		if k.n += bytes.Count(p, k.match); k.n >= k.at {
			self, _ := os.FindProcess(os.Getpid())
			self.Kill()
			select {} // the kill is on its way
		}
	}
	return n, err
}

func helperSetup() (kill int) {
	if l := os.Getenv(envHelperLease); l != "" {
		noticeLease, _ = time.ParseDuration(l)
	}
	kill, _ = strconv.Atoi(os.Getenv(envHelperKill))
	return kill
}

// TestHelperRun is `idpkeeper run` as a helper process.
func TestHelperRun(t *testing.T) {
	raw := os.Getenv(envHelperArgs)
	if raw == "" {
		t.Skip("helper process of the concurrency and crash tests")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	kill := helperSetup()
	os.Exit(run(context.Background(), args, &killAfter{w: os.Stdout, match: []byte("notice F-"), at: kill}, os.Stderr))
}

// TestHelperServe is the Functions app as a helper process: its settings
// from the environment (IDPKEEPER_SNAPSHOT, IDPKEEPER_CONFIG,
// IDPKEEPER_STATE on Azurite), Service Bus replaced by an in-process queue
// whose jobs are handed to their functions through the router, redelivered
// on failure as Service Bus would.
func TestHelperServe(t *testing.T) {
	if os.Getenv(envHelperServe) == "" {
		t.Skip("helper process of the Blob crash test")
	}
	kill := helperSetup()
	logger := funchost.NewLogger(&killAfter{w: os.Stdout, match: []byte(`msg="notice stored`), at: kill}, os.Stderr, slog.LevelInfo)
	queue := jobs.NewMemory(jobs.MemoryOptions{})
	app := &functionsApp{logger: logger, build: func(ctx context.Context) (*pipeline.Pipeline, error) {
		p, _, err := azurePipelineWith(ctx, logger, azureParts{Sender: queue})
		return p, err
	}}
	router := app.router()
	invoke := func(function, body string) int {
		req := httptest.NewRequest(http.MethodPost, "/"+function, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := invoke("ScanTimer", hostPayload(t, "timer_first_run.json")); code != 200 {
		fmt.Fprintln(os.Stderr, "ScanTimer answered", code)
		os.Exit(3)
	}
	stats, err := queue.Drain(context.Background(), func(_ context.Context, d jobs.Delivery) error {
		if code := invoke(functionFor[d.Job.Kind], serviceBusPayload(t, d.MessageID, string(d.Body))); code != 200 {
			return fmt.Errorf("%s answered %d", functionFor[d.Job.Kind], code)
		}
		return nil
	})
	if err != nil || stats.DeadLettered > 0 {
		fmt.Fprintln(os.Stderr, "drain:", err, stats)
		os.Exit(3)
	}
	os.Exit(0)
}

// helper starts one helper process; killAfter > 0 makes it kill itself
// after that many sends, killAt > 0 has it killed from outside after that
// long. It returns what the helper printed on stdout, and whether it was
// killed.
func helper(t *testing.T, env []string, killAfter int, killAt time.Duration) (stdout string, killed bool, errOut string) {
	t.Helper()
	run := "^TestHelperRun$"
	for _, e := range env {
		if strings.HasPrefix(e, envHelperServe+"=") {
			run = "^TestHelperServe$"
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.count=1")
	cmd.Env = append(append(os.Environ(), env...), envHelperKill+"="+strconv.Itoa(killAfter))
	var out, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if killAt > 0 {
		timer := time.AfterFunc(killAt, func() { cmd.Process.Kill() })
		defer timer.Stop()
	}
	err := cmd.Wait()
	killed = err != nil && strings.Contains(err.Error(), "killed")
	if err != nil && !killed {
		t.Fatalf("helper failed: %v\n%s\n%s", err, out.String(), errBuf.String())
	}
	return out.String(), killed, errBuf.String()
}

var (
	outboxLine = regexp.MustCompile(`(?m)^notice (F-\S+) (\S+) to `)
	storedLine = regexp.MustCompile(`(?m)msg="notice stored[^\n]* finding=(F-\S+) stage=(\S+) `)
)

// sends counts, per "finding stage", the sends the lines in out report.
func sends(re *regexp.Regexp, out string, into map[string]int) {
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		into[m[1]+" "+m[2]]++
	}
}

func runArgs(state, outbox string) []string {
	return []string{"run", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--state", state, "--outbox", outbox}
}

func envRun(args []string, lease string) []string {
	b, _ := json.Marshal(args)
	env := []string{envHelperArgs + "=" + string(b)}
	if lease != "" {
		env = append(env, envHelperLease+"="+lease)
	}
	return env
}

// dueNotices is what one run sends on a fresh state: the notices due.
func dueNotices(t *testing.T) map[string]int {
	t.Helper()
	out, _, _ := helper(t, envRun(runArgs(t.TempDir(), t.TempDir()), ""), 0, 0)
	due := map[string]int{}
	sends(outboxLine, out, due)
	if len(due) < 10 {
		t.Fatalf("only %d notices due in the example:\n%s", len(due), out)
	}
	return due
}

// Folder state across processes: 8 `idpkeeper run`s at once on one state
// folder send every due notice exactly once between them — counted from the
// notice lines they print, not from outbox files (a duplicate would
// overwrite its own file).
func TestConcurrentRunsSendEachNoticeOnce(t *testing.T) {
	due := dueNotices(t)
	state, outbox := t.TempDir(), t.TempDir()
	const procs = 8
	outs := make([]string, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], _, _ = helper(t, envRun(runArgs(state, outbox), ""), 0, 0)
		}()
	}
	wg.Wait()
	sent := map[string]int{}
	total := 0
	for _, out := range outs {
		sends(outboxLine, out, sent)
	}
	for k, n := range sent {
		total += n
		if due[k] == 0 {
			t.Errorf("%s sent, but not due", k)
		}
		if n != 1 {
			t.Errorf("%s sent %d times by %d concurrent runs", k, n, procs)
		}
	}
	for k := range due {
		if sent[k] == 0 {
			t.Errorf("%s due, never sent", k)
		}
	}
	t.Logf("%d concurrent runs: %d notice lines for %d notices due", procs, total, len(due))
}

// unsent counts the due notices no line has reported yet.
func unsent(due, sent map[string]int) int {
	n := 0
	for k := range due {
		if sent[k] == 0 {
			n++
		}
	}
	return n
}

// crashCheck checks the state after the crashes and the recovery: every
// due notice sent and marked sent on channel, and a notice sent more than
// once only where the ledger records that many lease takeovers (the
// documented duplicate).
func crashCheck(t *testing.T, store statestore.Store, channel string, due, sent map[string]int) (takeovers int) {
	t.Helper()
	byFinding := map[string]ledger.Entry{}
	l := &ledger.Ledger{Store: store}
	for k := range due {
		finding, stage, _ := strings.Cut(k, " ")
		e, ok := byFinding[finding]
		if !ok {
			var err error
			if e, err = l.Get(context.Background(), finding); err != nil {
				t.Fatalf("%s: %v", finding, err)
			}
			byFinding[finding] = e
		}
		n, ok := e.Notice(stage, channel)
		switch {
		case sent[k] == 0:
			t.Errorf("%s: lost (never sent); ledger %+v", k, n)
		case !ok || n.Status != ledger.StatusSent:
			t.Errorf("%s: sent %d times but the ledger says %+v", k, sent[k], n)
		case sent[k]-1 > n.Takeovers:
			t.Errorf("%s: sent %d times with %d lease takeovers: a duplicate outside the lease case", k, sent[k], n.Takeovers)
		}
		takeovers += n.Takeovers
	}
	for k := range sent {
		if due[k] == 0 {
			t.Errorf("%s sent but not due", k)
		}
	}
	return takeovers
}

// crashRounds runs rounds of killed helpers, each round on fresh state
// (newEnv): a helper that kills itself right after one of the sends it still
// has to make, one killed from outside after a random delay (up to the
// duration of an undisturbed run), the two again after a pause of one
// lease, then one undisturbed helper after the lease — the recovery. check
// inspects each round. It logs the figures.
func crashRounds(t *testing.T, name string, rounds int, lease, full time.Duration, due map[string]int, line *regexp.Regexp,
	newEnv func(round int) []string, check func(round int, sent map[string]int) (takeovers int)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(rounds)))
	runs, killed, selfKilled, lines, takeovers, warnings := 0, 0, 0, 0, 0, 0
	for r := 0; r < rounds; r++ {
		env := newEnv(r)
		sent := map[string]int{}
		for i := 0; i < 4; i++ {
			var out, errOut string
			var k bool
			if i%2 == 0 {
				out, k, errOut = helper(t, env, 1+rng.IntN(max(1, unsent(due, sent))), 0)
				if k {
					selfKilled++
				}
			} else {
				out, k, errOut = helper(t, env, 0, time.Duration(rng.Int64N(int64(full))))
			}
			runs++
			if k {
				killed++
			}
			sends(line, out, sent)
			warnings += strings.Count(errOut, "notice claim lapsed")
			if i == 1 {
				time.Sleep(lease) // some claims lapse mid-round
			}
		}
		time.Sleep(lease + 100*time.Millisecond)
		out, k, errOut := helper(t, env, 0, 0)
		runs++
		if k {
			t.Fatal("the recovery run was killed")
		}
		sends(line, out, sent)
		warnings += strings.Count(errOut, "notice claim lapsed")
		takeovers += check(r, sent)
		for _, n := range sent {
			lines += n
		}
	}
	t.Logf("%s: %d rounds, %d processes, %d killed (%d right after a send, before the ledger knew), %d notices due a round, %d sends for %d due, %d lease takeovers, %d takeover warnings logged",
		name, rounds, runs, killed, selfKilled, len(due), lines, rounds*len(due), takeovers, warnings)
	if selfKilled == 0 {
		t.Error("no process was killed inside the claim window: the test proved nothing")
	}
}

// Killed `run`s on a folder: no due notice is lost after the recovery, and
// none is sent twice except by a lease takeover, each logged as a warning.
func TestCrashedRunsLoseNoNotice(t *testing.T) {
	due := dueNotices(t)
	start := time.Now()
	helper(t, envRun(runArgs(t.TempDir(), t.TempDir()), ""), 0, 0)
	full := time.Since(start)
	const lease = 400 * time.Millisecond
	states := map[int]string{}
	crashRounds(t, "folder", 6, lease, full, due, outboxLine, func(r int) []string {
		states[r] = t.TempDir()
		return envRun(runArgs(states[r], t.TempDir()), lease.String())
	}, func(r int, sent map[string]int) int {
		return crashCheck(t, statestore.Dir{Root: states[r]}, "outbox", due, sent)
	})
}

// Killed Functions app processes on Blob Storage (Azurite): the same, with
// the notices kept in the state store (the channel every deployment has).
func TestCrashedServeLosesNoNotice(t *testing.T) {
	conn := azuritetest.Start(t)
	root := t.TempDir()
	copyInto(t, exampleConfig, filepath.Join(root, "idpkeeper.yaml"))
	snapshot, _ := filepath.Abs(exampleSnapshot)
	const lease = 400 * time.Millisecond
	prefix := fmt.Sprintf("crash-%d", time.Now().UnixNano()%1_000_000)
	env := func(container string) []string {
		return []string{
			envHelperServe + "=1", envHelperLease + "=" + lease.String(),
			"IDPKEEPER_CONFIG=" + filepath.Join(root, "idpkeeper.yaml"), "IDPKEEPER_SNAPSHOT=" + snapshot,
			"IDPKEEPER_STATE=" + conn, "IDPKEEPER_STATE_CONTAINER=" + container,
			"IDPKEEPER_ACK_URL=", "IDPKEEPER_ACK_KEY=", "IDPKEEPER_KEYVAULT_URL=", "IDPKEEPER_NOTICE_MAILBOX=",
			jobs.SettingConnection + "=", jobs.SettingNamespace + "=",
		}
	}
	// The notices due: one undisturbed app on a fresh container; the time
	// of a whole run: one more, with Azurite warm.
	out, _, _ := helper(t, env(prefix+"-ref"), 0, 0)
	start := time.Now()
	helper(t, env(prefix+"-ref2"), 0, 0)
	full := time.Since(start)
	due := map[string]int{}
	sends(storedLine, out, due)
	if len(due) < 10 {
		t.Fatalf("only %d notices stored by one run:\n%s", len(due), out)
	}
	crashRounds(t, "blob", 3, lease, full, due, storedLine, func(r int) []string {
		return env(fmt.Sprintf("%s-%d", prefix, r))
	}, func(r int, sent map[string]int) int {
		store, err := statestore.OpenBlob(context.Background(), statestore.BlobOptions{ConnectionString: conn, Container: fmt.Sprintf("%s-%d", prefix, r)})
		if err != nil {
			t.Fatal(err)
		}
		return crashCheck(t, store, "store", due, sent)
	})
}
