package probe

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// LoadClientCertificate opens a PKCS#12 (.pfx) file. Errors never include
// the password.
func LoadClientCertificate(path, password string) (*tls.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cert, err := fromPKCS12(data, password)
	if err != nil {
		return nil, fmt.Errorf("%s is not a PKCS#12 file this password opens", path)
	}
	return cert, nil
}

func fromPKCS12(data []byte, password string) (*tls.Certificate, error) {
	// DecodeChain: PFX files exported with their chain or AES (PBES2)
	// encryption open too; the chain is presented with the certificate.
	key, cert, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return nil, err
	}
	out := &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	for _, c := range chain {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}

// ClientCertificateFromBase64 opens a base64 PKCS#12, as Key Vault keeps a
// certificate's backing secret.
func ClientCertificateFromBase64(b64, password string) (*tls.Certificate, error) {
	data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, errors.New("the certificate is not base64")
	}
	cert, err := fromPKCS12(data, password)
	if err != nil {
		return nil, errors.New("the certificate is not a PKCS#12 file this password opens")
	}
	return cert, nil
}

// Exit codes of APICommand.
const (
	ExitWellFormed = 0
	ExitNotWell    = 1
	ExitUsage      = 2
)

// APICommand runs `probe api URL [--basic-user U --basic-password-env VAR |
// --client-cert FILE.pfx --client-cert-password-env VAR]
// [--step postFederationSignup|postAttributeCollection] [--timeout D]
// [--format json]`, and with `--scenarios FILE` the API team's scenarios
// (RunScenarios). Passwords come only from environment variables, so they
// are never on a command line or in shell history. Exit 0 only for a
// well-formed answer (continue, block, validation-error) — with
// --scenarios, only when every scenario passes.
func APICommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("probe api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("basic-user", "", "basic authentication user name")
	passEnv := fs.String("basic-password-env", "", "environment variable holding the basic authentication password")
	certFile := fs.String("client-cert", "", "client certificate (.pfx) to present")
	certPassEnv := fs.String("client-cert-password-env", "", "environment variable holding the .pfx password (unset: empty password)")
	step := fs.String("step", string(StepPostFederationSignup), "postFederationSignup or postAttributeCollection")
	timeout := fs.Duration("timeout", DefaultTimeout, "how long to wait (Entra's connector timeout by default)")
	format := fs.String("format", "text", "text or json")
	scenarioFile := fs.String("scenarios", "", "run the scenarios of this YAML or JSON file (each with its own step and expected answer)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: idpkeeper probe api URL [--basic-user U --basic-password-env VAR | --client-cert FILE.pfx --client-cert-password-env VAR] [--step postFederationSignup|postAttributeCollection] [--timeout D] [--format json]")
		fmt.Fprintln(stderr, "       idpkeeper probe api URL --scenarios FILE [--basic-user U --basic-password-env VAR | --client-cert FILE.pfx --client-cert-password-env VAR] [--timeout D] [--format json]")
		fs.PrintDefaults()
	}
	target := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		target, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitWellFormed
		}
		return ExitUsage
	}
	if target == "" && fs.NArg() == 1 {
		target = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "probe api: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	usage := func(msg string) int {
		fmt.Fprintln(stderr, "probe api: "+msg)
		return ExitUsage
	}
	switch {
	case target == "":
		fs.Usage()
		return ExitUsage
	case Step(*step) != StepPostFederationSignup && Step(*step) != StepPostAttributeCollection:
		return usage("--step must be postFederationSignup or postAttributeCollection")
	case *format != "text" && *format != "json":
		return usage("--format must be text or json")
	case *user != "" && *certFile != "":
		return usage("give basic authentication or a client certificate, not both")
	case *user != "" && *passEnv == "":
		return usage("--basic-user needs --basic-password-env VAR (the password is read from that variable)")
	case *timeout <= 0:
		return usage("--timeout must be positive")
	}
	if _, err := CheckURL(target); err != nil {
		return usage(err.Error())
	}
	var scenarios []Scenario
	if *scenarioFile != "" {
		stepSet := false
		fs.Visit(func(f *flag.Flag) { stepSet = stepSet || f.Name == "step" })
		if stepSet {
			return usage("--step is given per scenario in the scenario file, not with --scenarios")
		}
		data, err := readLimited(*scenarioFile, MaxScenarioFileBytes)
		if err != nil {
			return usage(err.Error())
		}
		if scenarios, err = ParseScenarios(*scenarioFile, data); err != nil {
			fmt.Fprintln(stderr, "probe api: "+err.Error())
			return ExitUsage
		}
	}
	req := Request{URL: target, Step: Step(*step), Timeout: *timeout}
	if *user != "" {
		pw := getenv(*passEnv)
		if pw == "" {
			return usage("environment variable " + *passEnv + " is empty or unset")
		}
		req.Auth = Auth{BasicUser: *user, BasicPassword: pw}
	}
	if *certFile != "" {
		pw := ""
		if *certPassEnv != "" {
			pw = getenv(*certPassEnv)
		}
		cert, err := LoadClientCertificate(*certFile, pw)
		if err != nil {
			return usage(err.Error())
		}
		req.Auth = Auth{ClientCert: cert}
	}
	if scenarios != nil {
		if w, _ := CheckURL(target); w != "" {
			fmt.Fprintln(stderr, "warning: "+w)
		}
		rep := RunScenarios(ctx, req, scenarios)
		if *format == "json" {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			enc.Encode(rep)
		} else {
			WriteScenarios(stdout, rep, scenarios)
		}
		if rep.Failed == 0 {
			return ExitWellFormed
		}
		return ExitNotWell
	}
	res := Probe(ctx, req)
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else {
		WriteText(stdout, res)
	}
	if res.WellFormed() {
		return ExitWellFormed
	}
	return ExitNotWell
}

// WriteText prints a result for a person.
func WriteText(w io.Writer, r Result) {
	fmt.Fprintf(w, "outcome:  %s\n", r.Outcome)
	fmt.Fprintf(w, "url:      %s (%s)\n", r.URL, r.Step)
	if r.Status != 0 {
		fmt.Fprintf(w, "status:   %d\n", r.Status)
	}
	fmt.Fprintf(w, "latency:  %s\n", r.Latency.Round(time.Millisecond))
	if r.UserMessage != "" {
		fmt.Fprintf(w, "message:  %s\n", r.UserMessage)
	}
	if r.TLSNotAfter != nil {
		fmt.Fprintf(w, "tls:      %s, expires %s\n", r.TLSSubject, r.TLSNotAfter.Format("2006-01-02"))
	}
	if r.Detail != "" {
		fmt.Fprintf(w, "detail:   %s\n", r.Detail)
	}
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// WriteScenarios prints a scenario run for a person: one line per
// scenario, the reason under a failed one.
func WriteScenarios(w io.Writer, rep ScenarioReport, scs []Scenario) {
	fmt.Fprintf(w, "url: %s\n\n", rep.URL)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tSCENARIO\tSTEP\tEXPECT\tOUTCOME\tSTATUS\tLATENCY\tUSER MESSAGE")
	for i, r := range rep.Scenarios {
		verdict := "PASS"
		if !r.Pass {
			verdict = "FAIL"
		}
		step := ""
		if i < len(scs) {
			step = string(scs[i].Step)
		}
		status := "-"
		if r.Status != 0 {
			status = fmt.Sprint(r.Status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d ms\t%s\n", verdict, r.Name, step, r.Expect, r.Outcome, status, r.LatencyMs, clip(r.UserMessage, 60))
		if r.Reason != "" {
			fmt.Fprintf(tw, "\t  %s\t\t\t\t\t\t\n", r.Reason)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d passed, %d failed\n", rep.Passed, rep.Failed)
}
