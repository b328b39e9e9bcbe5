package consistency

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// The function contract: name → trigger type (function.json "type").
var contract = map[string]string{
	"ScanTimer":        "timerTrigger",
	"WatchTimer":       "timerTrigger",
	"Report":           "httpTrigger",
	"KeyVaultEvents":   "eventGridTrigger",
	"RefreshMetadata":  "serviceBusTrigger",
	"RotateCredential": "serviceBusTrigger",
	"NotifyOwner":      "serviceBusTrigger",
	"Ack":              "httpTrigger",
	"Approve":          "httpTrigger",
}

// The Key Vault event types IdP Keeper subscribes to.
var keyVaultEventTypes = []string{
	"Microsoft.KeyVault.SecretNearExpiry",
	"Microsoft.KeyVault.SecretExpired",
	"Microsoft.KeyVault.SecretNewVersionCreated",
	"Microsoft.KeyVault.CertificateNearExpiry",
	"Microsoft.KeyVault.CertificateExpired",
	"Microsoft.KeyVault.CertificateNewVersionCreated",
}

// Settings that exist only locally (never in Azure) or only in Azure.
var (
	localOnlySettings = set(
		"IDPKEEPER_SNAPSHOT",       // Azure scans the live tenant
		"FUNCTIONS_WORKER_RUNTIME", // Flex: functionAppConfig.runtime instead
		"AzureWebJobsStorage",      // Azure: identity-based AzureWebJobsStorage__*
		"ServiceBusConnection",     // Azure: identity-based ServiceBusConnection__*
	)
	// Settings the operator sets after deploying, when wanted; the
	// templates leave them out: the retention of the state store, whose
	// defaults suit most tenants. (IDPKEEPER_REPORT_URL, which carries the
	// Report function's key, is set by the postdeploy hook through infra
	// like the other links.)
	operatorSettings = set("IDPKEEPER_RETENTION_PARKED_DAYS", "IDPKEEPER_RETENTION_NOTICES_DAYS")
	// Must not be app settings on Flex Consumption (MicrosoftDocs/azure-docs
	// articles/azure-functions/functions-app-settings.md, "Flex Consumption
	// plan deprecations"),
	// or must not exist in Azure at all.
	forbiddenInAzure = set(
		"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE",
		"WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_TIME_ZONE",
		"TZ", "WEBSITE_NODE_DEFAULT_VERSION", "AzureWebJobsStorage", "ServiceBusConnection",
		"IDPKEEPER_SNAPSHOT",
		// Azure runs host.json's linux/amd64 handler; only a local stage
		// names another binary.
		"AzureFunctionsJobHost__customHandler__description__defaultExecutablePath",
	)
	// Identity-based connections and telemetry the Azure app needs.
	requiredInAzure = []string{
		"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId",
		"ServiceBusConnection__fullyQualifiedNamespace", "ServiceBusConnection__credential", "ServiceBusConnection__clientId",
		"AZURE_CLIENT_ID", "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
		"IDPKEEPER_STATE", "IDPKEEPER_STATE_CONTAINER", "IDPKEEPER_CONFIG", "IDPKEEPER_SCAN_SCHEDULE",
		"IDPKEEPER_WATCH_SCHEDULE",
		"IDPKEEPER_QUEUE_METADATA", "IDPKEEPER_QUEUE_ROTATION", "IDPKEEPER_QUEUE_NOTICES",
		"IDPKEEPER_NOTICE_MAILBOX", "IDPKEEPER_KEYVAULT_URL",
	}
)

// ---------------------------------------------------------------- functions

func TestFunctionsMatchContract(t *testing.T) {
	fns := functions(t)
	byName := map[string]function{}
	nameRule := regexp.MustCompile(`(?i)^[a-z][a-z0-9_\-]{0,127}$`) // host's FunctionNameValidationRegex
	for _, f := range fns {
		byName[f.Name] = f
		if !nameRule.MatchString(f.Name) || strings.EqualFold(f.Name, "host") {
			t.Errorf("%s: %q is not a valid function name for the Functions host", f.Path, f.Name)
		}
		n := 0
		for _, b := range f.Bindings {
			if strings.HasSuffix(strings.ToLower(b.str("type")), "trigger") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d trigger bindings; the host needs exactly one", f.Path, n)
		}
	}
	for _, name := range keys(contract) {
		f, ok := byName[name]
		if !ok {
			t.Errorf("function %s (a %s) has no functions/%s/function.json", name, contract[name], name)
			continue
		}
		if got := f.trigger().str("type"); got != contract[name] {
			t.Errorf("%s: trigger type %q, want %q", f.Path, got, contract[name])
		}
	}
	for name := range byName {
		if _, ok := contract[name]; !ok {
			t.Errorf("functions/%s is not in the contract (shared/consistency: contract); add it there and to infra if it needs settings", name)
		}
	}
	// HTTP routes and auth levels of the contract. Ack is anonymous: its
	// links go to people outside the organisation, so they carry no
	// Functions key; each is signed instead (shared/acklink), and the
	// handler must verify it.
	for name, want := range map[string]struct {
		route, auth string
		methods     []string
	}{"Report": {"report", "function", []string{"get"}}, "Ack": {"ack", "anonymous", []string{"get", "post"}}, "Approve": {"approve", "function", []string{"post"}}} {
		f, ok := byName[name]
		if !ok {
			continue
		}
		tr := f.trigger()
		if tr.str("route") != want.route || tr.str("authLevel") != want.auth {
			t.Errorf("%s: route %q authLevel %q, want route %q authLevel %q", f.Path, tr.str("route"), tr.str("authLevel"), want.route, want.auth)
		}
		if want.auth == "anonymous" {
			src := read(t, "functions/cmd_serve.go")
			if !regexp.MustCompile(`func \(a \*functionsApp\) ack\(`).MatchString(src) || !strings.Contains(src, "acklink.Verify(") {
				t.Errorf("%s is anonymous: functions/cmd_serve.go must verify the link's signature (acklink.Verify) in its handler", f.Path)
			}
		}
		var methods []string
		if ms, ok := tr["methods"].([]any); ok {
			for _, m := range ms {
				s, _ := m.(string)
				methods = append(methods, strings.ToLower(s))
			}
		}
		sort.Strings(methods)
		if strings.Join(methods, ",") != strings.Join(want.methods, ",") {
			t.Errorf("%s: methods %v, want %v", f.Path, methods, want.methods)
		}
	}
}

// The Event Grid subscription targets a function that exists and is
// Event Grid–triggered; its event types are exactly the ones the Go code handles.
func TestEventGridSubscription(t *testing.T) {
	const mainRel, egRel = "infra/main.bicep", "infra/modules/eventgrid.bicep"
	main := bicep(t, mainRel)
	eg := bicep(t, egRel)

	m := regexp.MustCompile(`(?m)^var\s+keyVaultEventsFunction\s*=\s*'([^']+)'`).FindStringSubmatch(main)
	if m == nil {
		t.Fatalf("%s: no `var keyVaultEventsFunction = '…'`", mainRel)
	}
	name := m[1]
	found := false
	for _, f := range functions(t) {
		if f.Name == name {
			found = true
			if f.trigger().str("type") != "eventGridTrigger" {
				t.Errorf("%s: Event Grid subscription targets %s, whose trigger is %q, not eventGridTrigger", mainRel, name, f.trigger().str("type"))
			}
		}
	}
	if !found {
		t.Errorf("%s: Event Grid subscription targets function %q, but there is no functions/%s/function.json", mainRel, name, name)
	}
	if !regexp.MustCompile(`functionName:\s*keyVaultEventsFunction`).MatchString(main) {
		t.Errorf("%s: the eventgrid module is not given functionName: keyVaultEventsFunction", mainRel)
	}
	if !strings.Contains(eg, "'${functionAppId}/functions/${functionName}'") {
		t.Errorf("%s: destination resourceId is not '${functionAppId}/functions/${functionName}'", egRel)
	}
	if got := bicepProperty(t, eg, "endpointType", egRel); got != "AzureFunction" {
		t.Errorf("%s: first endpointType %q, want AzureFunction", egRel, got)
	}

	types := stringsIn(block(t, eg, regexp.MustCompile(`includedEventTypes\s*:`), egRel))
	if strings.Join(sorted(types), "\n") != strings.Join(sorted(keyVaultEventTypes), "\n") {
		t.Errorf("%s: includedEventTypes %v, want exactly %v", egRel, types, keyVaultEventTypes)
	}
	if srcs := goSources(t, "shared/events"); len(srcs) > 0 {
		var goTypes []string
		for _, v := range goStringConsts(srcs) {
			if strings.HasPrefix(v, "Microsoft.KeyVault.") {
				goTypes = append(goTypes, v)
			}
		}
		if strings.Join(sorted(goTypes), "\n") != strings.Join(sorted(types), "\n") {
			t.Errorf("shared/events handles Key Vault event types %v but %s subscribes to %v", sorted(goTypes), egRel, sorted(types))
		}
	} else {
		t.Errorf("shared/events/*.go not found: cannot check the Key Vault event types the code handles")
	}

	retry := block(t, eg, regexp.MustCompile(`retryPolicy\s*:`), egRel)
	if bicepProperty(t, retry, "maxDeliveryAttempts", egRel) != "30" || bicepProperty(t, retry, "eventTimeToLiveInMinutes", egRel) != "1440" {
		t.Errorf("%s: retryPolicy must be maxDeliveryAttempts 30, eventTimeToLiveInMinutes 1440", egRel)
	}
	dl := block(t, eg, regexp.MustCompile(`deadLetterWithResourceIdentity\s*:`), egRel)
	if !strings.Contains(dl, "blobContainerName: deadLetterContainerName") {
		t.Errorf("%s: dead-letter destination is not the deadLetterContainerName container", egRel)
	}
	if !regexp.MustCompile(`(?m)^var\s+deadLetterContainerName\s*=\s*'eventgrid-deadletter'`).MatchString(main) {
		t.Errorf("%s: deadLetterContainerName is not 'eventgrid-deadletter'", mainRel)
	}
}

// ---------------------------------------------------------------- queues

// infraQueues maps each queue app setting to the queue name infra gives it:
// functionapp.bicep { name: SETTING, value: PARAM } → main.bicep PARAM: queues.KEY
// → main.bicep var queues { KEY: 'name' }.
func infraQueues(t *testing.T) map[string]string {
	t.Helper()
	const mainRel = "infra/main.bicep"
	main := bicep(t, mainRel)
	queues := objectStrings(block(t, main, regexp.MustCompile(`(?m)^var\s+queues\s*=`), mainRel))
	if len(queues) == 0 {
		t.Fatalf("%s: var queues has no entries", mainRel)
	}
	out := map[string]string{}
	for setting, param := range infraAppSettings(t) {
		if !strings.HasPrefix(setting, "IDPKEEPER_QUEUE_") {
			continue
		}
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(param) + `\s*:\s*queues\.([A-Za-z_][A-Za-z0-9_]*)\s*$`).FindStringSubmatch(main)
		if m == nil {
			t.Errorf("%s: the functionapp module's %s (app setting %s) is not set from var queues", mainRel, param, setting)
			continue
		}
		name, ok := queues[m[1]]
		if !ok {
			t.Errorf("%s: queues.%s (app setting %s) is not defined in var queues", mainRel, m[1], setting)
			continue
		}
		out[setting] = name
	}
	// Every infra queue is created by the servicebus module.
	sbArgs := block(t, main, regexp.MustCompile(`queueNames\s*:`), mainRel)
	for key := range queues {
		if !strings.Contains(sbArgs, "queues."+key) {
			t.Errorf("%s: queue queues.%s is not passed to the servicebus module's queueNames", mainRel, key)
		}
	}
	return out
}

// goQueueDefaults maps each queue setting to its default in shared/jobs.
func goQueueDefaults(t *testing.T) map[string]string {
	t.Helper()
	srcs := goSources(t, "shared/jobs")
	if len(srcs) == 0 {
		t.Fatalf("shared/jobs/*.go not found: the queue defaults (DefaultQueueMetadata = \"idpkeeper-metadata\", …) are expected there")
	}
	consts := goStringConsts(srcs)
	out := map[string]string{}
	for name, setting := range consts {
		if !strings.HasPrefix(setting, "IDPKEEPER_QUEUE_") {
			continue
		}
		// SettingQueueMetadata → key "Metadata" → a Default…Metadata…/…Queue… constant.
		key := strings.TrimPrefix(strings.TrimPrefix(name, "Setting"), "Queue")
		for dname, dval := range consts {
			if strings.HasPrefix(dname, "Default") && strings.Contains(dname, "Queue") && strings.Contains(dname, key) {
				out[setting] = dval
			}
		}
		if _, ok := out[setting]; !ok {
			t.Errorf("shared/jobs: setting %s (%s) has no Default…%s… queue constant", name, setting, key)
		}
	}
	if len(out) == 0 {
		t.Fatalf("shared/jobs: no constants with an IDPKEEPER_QUEUE_* value found")
	}
	return out
}

type emulatorQueue struct {
	Name       string `json:"Name"`
	Properties struct {
		DeadLetteringOnMessageExpiration    bool   `json:"DeadLetteringOnMessageExpiration"`
		DefaultMessageTimeToLive            string `json:"DefaultMessageTimeToLive"`
		DuplicateDetectionHistoryTimeWindow string `json:"DuplicateDetectionHistoryTimeWindow"`
		LockDuration                        string `json:"LockDuration"`
		MaxDeliveryCount                    int    `json:"MaxDeliveryCount"`
		RequiresDuplicateDetection          bool   `json:"RequiresDuplicateDetection"`
		RequiresSession                     bool   `json:"RequiresSession"`
	} `json:"Properties"`
}

const emulatorConfig = "infra/local/servicebus-emulator/Config.json"

func emulatorQueues(t *testing.T) map[string]emulatorQueue {
	t.Helper()
	var doc struct {
		UserConfig struct {
			Namespaces []struct {
				Name   string          `json:"Name"`
				Queues []emulatorQueue `json:"Queues"`
			} `json:"Namespaces"`
		} `json:"UserConfig"`
	}
	readJSON(t, emulatorConfig, &doc)
	ns := doc.UserConfig.Namespaces
	if len(ns) != 1 || ns[0].Name != "sbemulatorns" {
		t.Fatalf("%s: want exactly one namespace named sbemulatorns (the emulator's only name)", emulatorConfig)
	}
	out := map[string]emulatorQueue{}
	for _, q := range ns[0].Queues {
		out[q.Name] = q
	}
	return out
}

// Queue names agree across function.json (via the local sample), infra, the
// emulator config and the Go defaults.
func TestQueueNamesAgree(t *testing.T) {
	local := localSettings(t)
	infra := infraQueues(t)
	goDefaults := goQueueDefaults(t)
	emulator := emulatorQueues(t)

	seen := map[string]bool{}
	for _, f := range functions(t) {
		tr := f.trigger()
		if tr.str("type") != "serviceBusTrigger" {
			continue
		}
		raw := tr.str("queueName")
		refs := settingRefs(raw)
		if len(refs) != 1 {
			t.Errorf("%s: queueName %q should be an app setting reference %%IDPKEEPER_QUEUE_…%%", f.Path, raw)
			continue
		}
		setting := refs[0]
		seen[setting] = true
		name := resolve(t, raw, local, f.Path)
		if got, ok := infra[setting]; !ok {
			t.Errorf("%s uses %%%s%%, but infra/modules/functionapp.bicep does not set %s from var queues", f.Path, setting, setting)
		} else if got != name {
			t.Errorf("queue for %s: local.settings.sample.json %q, infra %q", setting, name, got)
		}
		if got, ok := goDefaults[setting]; !ok {
			t.Errorf("%s uses %%%s%%, which shared/jobs has no default for", f.Path, setting)
		} else if got != name {
			t.Errorf("queue for %s: local.settings.sample.json %q, shared/jobs default %q", setting, name, got)
		}
		if _, ok := emulator[name]; !ok {
			t.Errorf("queue %q (%s, %s) is missing from %s", name, setting, f.Name, emulatorConfig)
		}
	}
	for setting := range goDefaults {
		if !seen[setting] {
			t.Errorf("shared/jobs defines queue setting %s, but no serviceBusTrigger function.json uses %%%s%%", setting, setting)
		}
	}
	for name := range emulator {
		found := false
		for _, q := range infra {
			found = found || q == name
		}
		if !found {
			t.Errorf("%s: queue %q is not one of infra's queues %v", emulatorConfig, name, infra)
		}
	}

	// The trigger's connection and the Go sender use the same setting name.
	jobs := goStringConsts(goSources(t, "shared/jobs"))
	for _, f := range functions(t) {
		tr := f.trigger()
		if tr.str("type") != "serviceBusTrigger" {
			continue
		}
		conn := tr.str("connection")
		if conn == "" {
			t.Errorf("%s: serviceBusTrigger has no connection", f.Path)
			continue
		}
		if jobs["SettingConnection"] != conn {
			t.Errorf("%s: connection %q, but shared/jobs SettingConnection is %q", f.Path, conn, jobs["SettingConnection"])
		}
		if ns := jobs["SettingNamespace"]; ns != conn+"__fullyQualifiedNamespace" {
			t.Errorf("shared/jobs SettingNamespace %q, want %q", ns, conn+"__fullyQualifiedNamespace")
		}
		if _, ok := local[conn]; !ok {
			t.Errorf("%s: connection %q is not set in local.settings.sample.json", f.Path, conn)
		}
		settings := infraAppSettings(t)
		for _, suffix := range []string{"__fullyQualifiedNamespace", "__credential", "__clientId"} {
			if _, ok := settings[conn+suffix]; !ok {
				t.Errorf("infra/modules/functionapp.bicep: missing %s%s (identity-based connection %q)", conn, suffix, conn)
			}
		}
	}
}

// The queues' properties in infra are the contract's, and the emulator's
// match them within the emulator's limits.
func TestQueuePropertiesAgree(t *testing.T) {
	const rel = "infra/modules/servicebus.bicep"
	src := bicep(t, rel)
	props := block(t, src, regexp.MustCompile(`namespaces/queues@[^']*'\s*=`), rel)
	want := map[string]string{
		"requiresDuplicateDetection":       "true",
		"maxDeliveryCount":                 "5",
		"deadLetteringOnMessageExpiration": "true",
		"lockDuration":                     "PT5M",
		"defaultMessageTimeToLive":         "P14D",
		"requiresSession":                  "false",
	}
	got := map[string]string{}
	for k, v := range want {
		got[k] = bicepProperty(t, props, k, rel)
		if got[k] != v {
			t.Errorf("%s: queue %s = %s, want %s", rel, k, got[k], v)
		}
	}
	// Duplicate detection must remember a MessageID for as long as the ID
	// stays the same (shared/jobs MessageIDPeriod), or a second scan of the
	// day enqueues its jobs again. Service Bus allows at most 7 days.
	got["duplicateDetectionHistoryTimeWindow"] = bicepProperty(t, props, "duplicateDetectionHistoryTimeWindow", rel)
	window := duration(t, got["duplicateDetectionHistoryTimeWindow"], rel)
	period := goMessageIDPeriod(t)
	if window < period {
		t.Errorf("%s: duplicateDetectionHistoryTimeWindow %s (%v) is shorter than shared/jobs MessageIDPeriod %v: a repeated job outside the window is not dropped",
			rel, got["duplicateDetectionHistoryTimeWindow"], window, period)
	}
	if window > 7*24*time.Hour {
		t.Errorf("%s: duplicateDetectionHistoryTimeWindow %v exceeds Service Bus's maximum of 7 days", rel, window)
	}
	ns := block(t, src, regexp.MustCompile(`Microsoft\.ServiceBus/namespaces@[^']*'\s*=`), rel)
	if bicepProperty(t, ns, "name", rel+" sku") != "Standard" && !strings.Contains(ns, "name: 'Standard'") {
		t.Errorf("%s: namespace sku is not Standard (duplicate detection and scheduled messages need Standard)", rel)
	}
	if bicepProperty(t, ns, "disableLocalAuth", rel) != "true" {
		t.Errorf("%s: disableLocalAuth must be true", rel)
	}

	// Emulator limits (Config-schema.json of azure-service-bus-emulator-installer):
	// TTL ≤ PT1H, duplicate detection window ≤ PT5M, lock ≤ PT5M, delivery count ≤ 10.
	limits := map[string]time.Duration{"ttl": time.Hour, "dup": 5 * time.Minute, "lock": 5 * time.Minute}
	clamp := func(d, max time.Duration) time.Duration { return min(d, max) }
	for name, q := range emulatorQueues(t) {
		p := q.Properties
		where := fmt.Sprintf("%s queue %s", emulatorConfig, name)
		if p.RequiresDuplicateDetection != (got["requiresDuplicateDetection"] == "true") ||
			p.DeadLetteringOnMessageExpiration != (got["deadLetteringOnMessageExpiration"] == "true") ||
			p.RequiresSession != (got["requiresSession"] == "true") {
			t.Errorf("%s: RequiresDuplicateDetection/DeadLetteringOnMessageExpiration/RequiresSession differ from %s", where, rel)
		}
		if fmt.Sprint(p.MaxDeliveryCount) != got["maxDeliveryCount"] {
			t.Errorf("%s: MaxDeliveryCount %d, infra %s", where, p.MaxDeliveryCount, got["maxDeliveryCount"])
		}
		for _, c := range []struct{ field, emu, infra, limit string }{
			{"DefaultMessageTimeToLive", p.DefaultMessageTimeToLive, got["defaultMessageTimeToLive"], "ttl"},
			{"DuplicateDetectionHistoryTimeWindow", p.DuplicateDetectionHistoryTimeWindow, got["duplicateDetectionHistoryTimeWindow"], "dup"},
			{"LockDuration", p.LockDuration, got["lockDuration"], "lock"},
		} {
			e, i := duration(t, c.emu, where), duration(t, c.infra, rel)
			if want := clamp(i, limits[c.limit]); e != want {
				t.Errorf("%s: %s %s, want %v (infra %s, emulator maximum %v)", where, c.field, c.emu, want, c.infra, limits[c.limit])
			}
		}
	}
}

// goMessageIDPeriod reads `const MessageIDPeriod = N * time.Hour` (or
// Minute) from shared/jobs/job.go.
func goMessageIDPeriod(t *testing.T) time.Duration {
	t.Helper()
	const rel = "shared/jobs/job.go"
	m := regexp.MustCompile(`(?m)^const\s+MessageIDPeriod\s*=\s*(\d+)\s*\*\s*time\.(Hour|Minute)\b`).FindStringSubmatch(read(t, rel))
	if m == nil {
		t.Fatalf("%s: no `const MessageIDPeriod = N * time.Hour`", rel)
	}
	n, _ := strconv.Atoi(m[1])
	if m[2] == "Minute" {
		return time.Duration(n) * time.Minute
	}
	return time.Duration(n) * time.Hour
}

// ---------------------------------------------------------------- app settings

// goSettingNames returns every IDPKEEPER_* name the Go code (non-test) reads,
// plus the constants of functions/settings.go.
func goSettingNames(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	lit := regexp.MustCompile(`"(IDPKEEPER_[A-Z0-9_]+)"`)
	// shared/access names the azd environment variables that switch a
	// feature on (AzdEnv: "IDPKEEPER_ENABLE_…"): those are read by azd, not
	// by the app (TestFeaturesGrantsAndCalls checks them).
	azdEnv := regexp.MustCompile(`AzdEnv:\s*"IDPKEEPER_[A-Z0-9_]+"`)
	for _, dir := range goDirs(t) {
		for rel, src := range goSources(t, dir) {
			src = azdEnv.ReplaceAllString(src, "")
			for _, m := range lit.FindAllStringSubmatch(src, -1) {
				out[m[1]] = rel
			}
		}
	}
	settings := goSources(t, "functions")
	if _, ok := settings["functions/settings.go"]; !ok {
		t.Fatalf("functions/settings.go not found")
	}
	for _, v := range goStringConsts(map[string]string{"": settings["functions/settings.go"]}) {
		if regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`).MatchString(v) && strings.Contains(v, "_") {
			out[v] = "functions/settings.go"
		}
	}
	return out
}

// goDirs lists functions/ and every package folder under shared/ (but this one).
func goDirs(t *testing.T) []string {
	t.Helper()
	dirs := []string{"functions"}
	matches, _ := filepath.Glob(filepath.Join(root(), "shared", "*"))
	for _, m := range matches {
		rel, _ := filepath.Rel(root(), m)
		rel = filepath.ToSlash(rel)
		if rel != "shared/consistency" && exists(rel) {
			dirs = append(dirs, rel)
		}
	}
	return dirs
}

func TestAppSettingsCovered(t *testing.T) {
	local := localSettings(t)
	infra := infraAppSettings(t)

	// %SETTING% in function.json: set locally and in Azure.
	for _, f := range functions(t) {
		for _, b := range f.Bindings {
			for k, v := range b {
				s, ok := v.(string)
				if !ok {
					continue
				}
				for _, ref := range settingRefs(s) {
					if _, ok := local[ref]; !ok {
						t.Errorf("%s: %s refers to %%%s%%, not set in local.settings.sample.json", f.Path, k, ref)
					}
					if _, ok := infra[ref]; !ok {
						t.Errorf("%s: %s refers to %%%s%%, not set in infra/modules/functionapp.bicep", f.Path, k, ref)
					}
				}
			}
		}
	}

	// Settings the Go code reads.
	for name, rel := range goSettingNames(t) {
		if _, ok := local[name]; !ok {
			t.Errorf("%s reads app setting %s; local.settings.sample.json does not list it (add it, empty if optional)", rel, name)
		}
		if localOnlySettings[name] || operatorSettings[name] {
			continue
		}
		if _, ok := infra[name]; !ok {
			t.Errorf("%s reads app setting %s; infra/modules/functionapp.bicep does not set it", rel, name)
		}
	}

	for _, name := range requiredInAzure {
		if _, ok := infra[name]; !ok {
			t.Errorf("infra/modules/functionapp.bicep: missing app setting %s", name)
		}
	}
	for name := range infra {
		if forbiddenInAzure[name] {
			t.Errorf("infra/modules/functionapp.bicep: %s must not be an app setting in Azure (Flex Consumption, or local-only)", name)
		}
	}
	for _, name := range []string{"AzureWebJobsStorage__credential", "ServiceBusConnection__credential"} {
		if v := infra[name]; v != "'managedidentity'" {
			t.Errorf("infra/modules/functionapp.bicep: %s = %s, want 'managedidentity'", name, v)
		}
	}
	if v := local["FUNCTIONS_WORKER_RUNTIME"]; !strings.EqualFold(v, "custom") {
		t.Errorf("local.settings.sample.json: FUNCTIONS_WORKER_RUNTIME = %q, want custom", v)
	}

	// Flex runtime and the state container default.
	const fa = "infra/modules/functionapp.bicep"
	runtime := block(t, bicep(t, fa), regexp.MustCompile(`runtime\s*:`), fa)
	if bicepProperty(t, runtime, "name", fa) != "custom" || bicepProperty(t, runtime, "version", fa) != "1.0" {
		t.Errorf("%s: functionAppConfig.runtime must be { name: 'custom', version: '1.0' }", fa)
	}
	consts := goStringConsts(goSources(t, "functions"))
	main := bicep(t, "infra/main.bicep")
	m := regexp.MustCompile(`(?m)^var\s+stateContainerName\s*=\s*'([^']+)'`).FindStringSubmatch(main)
	if m == nil {
		t.Fatalf("infra/main.bicep: no var stateContainerName")
	}
	if d, ok := consts["defaultContainer"]; !ok || d != m[1] {
		t.Errorf("functions/settings.go defaultContainer %q, infra state container %q", d, m[1])
	}
}

// ---------------------------------------------------------------- Graph permissions

var permissionName = regexp.MustCompile(`^[A-Z][A-Za-z]*(\.[A-Za-z]+)+$`)

// graphCall is one entry of GraphPermissions, read from the source text.
type graphCall struct {
	Method, Endpoint, Page, Documented, Permission, Phase, Note string
}

// goGraphCalls reads GraphPermissions in shared/tenant/permissions.go: keyed
// struct literals whose fields are string literals.
func goGraphCalls(t *testing.T) []graphCall {
	t.Helper()
	const rel = "shared/tenant/permissions.go"
	if !exists(rel) {
		t.Fatalf("%s not found: it should define `var GraphPermissions = []Permission{…}` (the Graph calls and their application permissions)", rel)
	}
	src := read(t, rel)
	loc := regexp.MustCompile(`var\s+GraphPermissions\s*=\s*\[\]Permission\s*\{`).FindStringIndex(src)
	if loc == nil {
		t.Fatalf("%s: no `var GraphPermissions = []Permission{`", rel)
	}
	field := regexp.MustCompile(`(Method|Endpoint|Page|Documented|Permission|Phase|Note)\s*:\s*"((?:[^"\\]|\\.)*)"`)
	var out []graphCall
	for _, e := range goCompositeEntries(src[loc[1]:]) {
		var c graphCall
		for _, m := range field.FindAllStringSubmatch(e, -1) {
			switch m[1] {
			case "Method":
				c.Method = m[2]
			case "Endpoint":
				c.Endpoint = m[2]
			case "Page":
				c.Page = m[2]
			case "Documented":
				c.Documented = m[2]
			case "Permission":
				c.Permission = m[2]
			case "Phase":
				c.Phase = m[2]
			case "Note":
				c.Note = m[2]
			}
		}
		switch {
		case c.Method == "" || c.Endpoint == "" || c.Page == "":
			t.Errorf("%s: entry {%s} needs Method, Endpoint and Page (string literals)", rel, strings.TrimSpace(e))
		case !permissionName.MatchString(c.Permission) || !permissionName.MatchString(c.Documented):
			t.Errorf("%s: %s %s: Permission %q / Documented %q are not permission names", rel, c.Method, c.Endpoint, c.Permission, c.Documented)
		case c.Phase != "read" && c.Phase != "mail" && c.Phase != "repair":
			t.Errorf("%s: %s %s: Phase %q is not read, mail or repair (a string literal)", rel, c.Method, c.Endpoint, c.Phase)
		case c.Permission != c.Documented && c.Note == "":
			t.Errorf("%s: %s %s relies on %s where the docs name %s: add a Note saying why", rel, c.Method, c.Endpoint, c.Permission, c.Documented)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("%s: GraphPermissions is empty", rel)
	}
	return out
}

// grantsOf is the distinct permissions of the calls in the given phases.
func grantsOf(calls []graphCall, phases ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range calls {
		for _, p := range phases {
			if c.Phase == p && !seen[c.Permission] {
				seen[c.Permission] = true
				out = append(out, c.Permission)
			}
		}
	}
	return out
}

// goCompositeEntries returns the bodies of the {…} elements of a Go composite
// literal whose opening brace precedes src, skipping braces inside string
// literals, runes and comments.
func goCompositeEntries(src string) []string {
	var out []string
	depth, start := 1, -1
	for i := 0; i < len(src) && depth > 0; i++ {
		switch c := src[i]; c {
		case '"', '`', '\'':
			for j := i + 1; j < len(src); j++ {
				if c != '`' && src[j] == '\\' {
					j++
					continue
				}
				if src[j] == c {
					i = j
					break
				}
			}
		case '/':
			if i+1 < len(src) && src[i+1] == '/' {
				for i < len(src) && src[i] != '\n' {
					i++
				}
			}
		case '{':
			depth++
			if depth == 2 {
				start = i + 1
			}
		case '}':
			if depth == 2 && start >= 0 {
				out = append(out, src[start:i])
			}
			depth--
		}
	}
	return out
}

func sorted(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// Every Graph call the code makes (shared/tenant/permissions.go, which a
// test in shared/tenant and shared/repair ties to the requests the code
// really sends) is granted by infra and listed in README with its documented
// least privilege.
func TestGraphPermissionsGranted(t *testing.T) {
	calls := goGraphCalls(t)
	need := grantsOf(calls, "read", "mail")
	needRepair := grantsOf(calls, "repair")

	const bicepRel = "infra/modules/graph-permissions.bicep"
	src := bicep(t, bicepRel)
	granted := stringsIn(block(t, src, regexp.MustCompile(`(?m)^var\s+readPermissions\s*=`), bicepRel))
	granted = append(granted, stringsIn(block(t, src, regexp.MustCompile(`(?m)^var\s+mailPermissions\s*=\s*enableMailSend\s*\?`), bicepRel))...)
	repair := stringsIn(block(t, src, regexp.MustCompile(`(?m)^var\s+repairPermissions\s*=\s*enableRepair\s*\?`), bicepRel))
	if strings.Join(sorted(granted), ",") != strings.Join(sorted(need), ",") {
		t.Errorf("%s grants %v; shared/tenant/permissions.go needs exactly %v", bicepRel, sorted(granted), sorted(need))
	}
	if strings.Join(sorted(repair), ",") != strings.Join(sorted(needRepair), ",") {
		t.Errorf("%s repairPermissions %v; the repair calls in shared/tenant/permissions.go need exactly %v", bicepRel, sorted(repair), sorted(needRepair))
	}
	for _, p := range repair {
		if !strings.Contains(p, ".ReadWrite.") {
			t.Errorf("%s: repairPermissions has %s, not a ReadWrite permission", bicepRel, p)
		}
	}
	for _, p := range append(append([]string{}, need...), needRepair...) {
		if !strings.Contains(src, p) {
			t.Errorf("%s: %s is not named in the file", bicepRel, p)
		}
	}
	if !strings.Contains(src, "appId: '00000003-0000-0000-c000-000000000000'") {
		t.Errorf("%s: the Microsoft Graph service principal (appId 00000003-0000-0000-c000-000000000000) is not looked up", bicepRel)
	}
	if !regexp.MustCompile(`(?m)^extension\s+microsoftGraphV1\b`).MatchString(src) {
		t.Errorf("%s: no `extension microsoftGraphV1`", bicepRel)
	}
	var cfg struct {
		Extensions map[string]string `json:"extensions"`
	}
	readJSON(t, "infra/bicepconfig.json", &cfg)
	if !strings.HasPrefix(cfg.Extensions["microsoftGraphV1"], "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:") {
		t.Errorf("infra/bicepconfig.json: extensions.microsoftGraphV1 = %q", cfg.Extensions["microsoftGraphV1"])
	}

	// The az CLI script grants the same.
	const scriptRel = "infra/scripts/grant-graph-permissions.sh"
	script := read(t, scriptRel)
	arrays := map[string][]string{}
	for _, m := range regexp.MustCompile(`(?ms)^([A-Z_]+_PERMISSIONS)=\(\n(.*?)^\)`).FindAllStringSubmatch(script, -1) {
		arrays[m[1]] = strings.Fields(m[2])
	}
	scriptGranted := append(append([]string{}, arrays["READ_PERMISSIONS"]...), arrays["MAIL_PERMISSIONS"]...)
	if strings.Join(sorted(scriptGranted), ",") != strings.Join(sorted(need), ",") {
		t.Errorf("%s grants %v (READ_PERMISSIONS + MAIL_PERMISSIONS); shared/tenant/permissions.go needs %v", scriptRel, sorted(scriptGranted), sorted(need))
	}
	if strings.Join(sorted(arrays["REPAIR_PERMISSIONS"]), ",") != strings.Join(sorted(needRepair), ",") {
		t.Errorf("%s REPAIR_PERMISSIONS %v, the repair calls need %v", scriptRel, arrays["REPAIR_PERMISSIONS"], sorted(needRepair))
	}

	// README lists every call with the permission granted and the one the
	// reference page documents.
	readme := read(t, "README.md")
	for _, c := range calls {
		row := ""
		for _, line := range strings.Split(readme, "\n") {
			if strings.Contains(line, "`"+c.Method+" "+c.Endpoint+"`") {
				row = line
			}
		}
		if row == "" {
			t.Errorf("README.md does not list the Graph call `%s %s`", c.Method, c.Endpoint)
			continue
		}
		if !strings.Contains(row, "`"+c.Permission+"`") || !strings.Contains(row, "`"+c.Documented+"`") {
			t.Errorf("README.md: the row of `%s %s` does not name `%s` (granted) and `%s` (documented)", c.Method, c.Endpoint, c.Permission, c.Documented)
		}
	}
}

// ---------------------------------------------------------------- Key Vault roles

func TestKeyVaultRoles(t *testing.T) {
	const rel = "infra/modules/roles-keyvault.bicep"
	src := bicep(t, rel)
	ids := objectStrings(block(t, src, regexp.MustCompile(`(?m)^var\s+roleIds\s*=`), rel))
	// Built-in role IDs (learn.microsoft.com/azure/role-based-access-control/built-in-roles/security).
	for name, id := range map[string]string{
		"keyVaultReader":         "21090545-7ca7-4776-b22c-e363652d74d2",
		"keyVaultSecretsUser":    "4633458b-17de-408a-b874-0445c86b69e6",
		"keyVaultSecretsOfficer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
	} {
		if ids[name] != id {
			t.Errorf("%s: role ID %s = %q, want %s", rel, name, ids[name], id)
		}
	}
	// Every assignment of a role that reads values is conditional on its
	// feature; Reader (properties only) is not.
	assignments := roleAssignments(src)
	if len(assignments) == 0 {
		t.Fatalf("%s: no role assignments", rel)
	}
	for _, a := range assignments {
		switch a.role {
		case "keyVaultReader":
			if a.cond != "" {
				t.Errorf("%s: Key Vault Reader (%s) must always be granted, not if (%s)", rel, a.name, a.cond)
			}
		case "keyVaultSecretsUser":
			if !strings.HasPrefix(a.cond, "enableProbeCredentials") {
				t.Errorf("%s: %s grants Key Vault Secrets User (reads values) without `if (enableProbeCredentials …)`: %q", rel, a.name, a.cond)
			}
		case "keyVaultSecretsOfficer":
			if !strings.HasPrefix(a.cond, "enableRepair") {
				t.Errorf("%s: %s grants Key Vault Secrets Officer without `if (enableRepair …)`: %q", rel, a.name, a.cond)
			}
		default:
			t.Errorf("%s: %s assigns %s, which no feature asks for", rel, a.name, a.role)
		}
	}
}

// roleAssignment is one roleAssignments resource of a Bicep file: its
// symbolic name, the roleIds key it assigns and its condition ("" when
// unconditional).
type roleAssignment struct{ name, role, cond, scope string }

func roleAssignments(src string) []roleAssignment {
	head := regexp.MustCompile(`(?m)^resource\s+(\w+)\s+'Microsoft\.Authorization/roleAssignments@[^']*'\s*=\s*(\[\s*for\s+[^:]+:\s*)?(if\s*\(([^)]*)\))?`)
	var out []roleAssignment
	locs := head.FindAllStringSubmatchIndex(src, -1)
	for i, loc := range locs {
		end := len(src)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := src[loc[1]:end]
		a := roleAssignment{name: src[loc[2]:loc[3]]}
		if loc[8] >= 0 {
			a.cond = strings.TrimSpace(src[loc[8]:loc[9]])
		}
		if m := regexp.MustCompile(`roleIds\.(\w+)`).FindStringSubmatch(body); m != nil {
			a.role = m[1]
		}
		if m := regexp.MustCompile(`(?m)^\s*scope\s*:\s*(\S+)`).FindStringSubmatch(body); m != nil {
			a.scope = m[1]
		}
		out = append(out, a)
	}
	return out
}

// ---------------------------------------------------------------- azd, outputs, modules

func TestAzdProject(t *testing.T) {
	var doc struct {
		Name  string `yaml:"name"`
		Infra struct {
			Provider string `yaml:"provider"`
			Path     string `yaml:"path"`
			Module   string `yaml:"module"`
		} `yaml:"infra"`
		Services map[string]struct {
			Project  string         `yaml:"project"`
			Language string         `yaml:"language"`
			Host     string         `yaml:"host"`
			Dist     string         `yaml:"dist"`
			Hooks    map[string]any `yaml:"hooks"`
		} `yaml:"services"`
		Hooks map[string]any `yaml:"hooks"`
	}
	if err := yaml.Unmarshal([]byte(read(t, "azure.yaml")), &doc); err != nil {
		t.Fatalf("azure.yaml: %v", err)
	}
	if !exists(filepath.ToSlash(filepath.Join(doc.Infra.Path, doc.Infra.Module+".bicep"))) {
		t.Errorf("azure.yaml: infra %s/%s.bicep does not exist", doc.Infra.Path, doc.Infra.Module)
	}
	if len(doc.Services) != 1 {
		t.Fatalf("azure.yaml: want one service, got %d", len(doc.Services))
	}
	fa := bicep(t, "infra/modules/functionapp.bicep")
	tag := ""
	if m := regexp.MustCompile(`(?m)^param\s+serviceName\s+string\s*=\s*'([^']+)'`).FindStringSubmatch(fa); m != nil {
		tag = m[1]
	}
	for name, svc := range doc.Services {
		if tag != name {
			t.Errorf("azure.yaml service %q, but infra/modules/functionapp.bicep tags the site azd-service-name %q", name, tag)
		}
		// A dist ending in .zip is deployed as it is (azd
		// service_target_functionapp.go): our packager sets the handler's
		// mode, which azd would not for language custom.
		if svc.Host != "function" || svc.Language != "custom" || !strings.HasSuffix(svc.Dist, ".zip") {
			t.Errorf("azure.yaml service %s: host %q language %q dist %q; want function, custom and the package zip", name, svc.Host, svc.Language, svc.Dist)
		}
		hook, _ := svc.Hooks["prepackage"].(map[string]any)
		run, _ := hook["run"].(string)
		if !strings.Contains(run, "go run ./infra/tools/funcapp package") || !strings.Contains(run, svc.Dist) {
			t.Errorf("azure.yaml service %s: prepackage hook %q should write %s with the Go packager", name, run, svc.Dist)
		}
	}
	for _, h := range []string{"postdeploy", "postdown"} {
		hook, _ := doc.Hooks[h].(map[string]any)
		if run, _ := hook["run"].(string); run != "go run ./infra/tools/funcapp "+h {
			t.Errorf("azure.yaml hook %s runs %q, want go run ./infra/tools/funcapp %s", h, run, h)
		}
	}
	if !exists("infra/tools/funcapp/main.go") {
		t.Error("infra/tools/funcapp (the packager and hooks azure.yaml runs) is missing")
	}
	if !strings.Contains(fa, "'azd-service-name': serviceName") {
		t.Errorf("infra/modules/functionapp.bicep: site is not tagged 'azd-service-name': serviceName")
	}

	// main.parameters.json names only parameters main.bicep declares, and
	// every parameter without a default.
	main := bicep(t, "infra/main.bicep")
	params := map[string]bool{} // name → has default
	for _, m := range regexp.MustCompile(`(?m)^param\s+([A-Za-z_][A-Za-z0-9_]*)\s+[A-Za-z]+\s*(=)?`).FindAllStringSubmatch(main, -1) {
		params[m[1]] = m[2] == "="
	}
	var pf struct {
		Parameters map[string]json.RawMessage `json:"parameters"`
	}
	readJSON(t, "infra/main.parameters.json", &pf)
	for name := range pf.Parameters {
		if _, ok := params[name]; !ok {
			t.Errorf("infra/main.parameters.json: %s is not a parameter of infra/main.bicep", name)
		}
	}
	for name, hasDefault := range params {
		if _, ok := pf.Parameters[name]; !ok && !hasDefault {
			t.Errorf("infra/main.parameters.json: required parameter %s is missing", name)
		}
	}
}

func TestOutputsAndModules(t *testing.T) {
	main := bicep(t, "infra/main.bicep")
	for _, out := range []string{"functionAppName", "functionAppUrl", "managedIdentityClientId", "managedIdentityPrincipalId", "serviceBusNamespace", "storageAccountName", "keyVaultUri"} {
		if !regexp.MustCompile(`(?m)^output\s+` + out + `\s`).MatchString(main) {
			t.Errorf("infra/main.bicep: no output %s (README/docs refer to it)", out)
		}
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^module\s+\w+\s+'([^']+)'`).FindAllStringSubmatch(main, -1) {
		rel := "infra/" + m[1]
		used[rel] = true
		if !exists(rel) {
			t.Errorf("infra/main.bicep: module %s does not exist", rel)
		}
	}
	files, _ := filepath.Glob(filepath.Join(root(), "infra", "modules", "*.bicep"))
	for _, f := range files {
		rel, _ := filepath.Rel(root(), f)
		if !used[filepath.ToSlash(rel)] {
			t.Errorf("%s is not used by infra/main.bicep", filepath.ToSlash(rel))
		}
	}
}

// Every infra Bicep file has balanced brackets and strings — a cheap syntax
// check where no Bicep parser runs (the full syntax check is
// `node infra/tools/check-bicep.cjs`).
func TestBicepBalanced(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root(), "infra", "*.bicep"))
	more, _ := filepath.Glob(filepath.Join(root(), "infra", "modules", "*.bicep"))
	for _, f := range append(files, more...) {
		rel, _ := filepath.Rel(root(), f)
		rel = filepath.ToSlash(rel)
		src := bicep(t, rel)
		var stack []rune
		line := 1
		inString := false
		pairs := map[rune]rune{'}': '{', ']': '[', ')': '('}
		for i, c := range src {
			if c == '\n' {
				line++
				if inString && !strings.HasSuffix(src[:i], "'''") {
					t.Errorf("%s:%d: unterminated string", rel, line-1)
					inString = false
				}
			}
			if inString {
				if c == '\'' && (i == 0 || src[i-1] != '\\') {
					inString = false
				}
				continue
			}
			switch c {
			case '\'':
				inString = true
			case '{', '[', '(':
				stack = append(stack, c)
			case '}', ']', ')':
				if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
					t.Errorf("%s:%d: unbalanced %q", rel, line, c)
					return
				}
				stack = stack[:len(stack)-1]
			}
		}
		if len(stack) != 0 || inString {
			t.Errorf("%s: %d unclosed brackets or an open string at end of file", rel, len(stack))
		}
	}
}

// ---------------------------------------------------------------- local kit and examples

func TestServiceBusEmulatorCompose(t *testing.T) {
	const rel = "infra/local/servicebus-emulator/docker-compose.yml"
	var doc struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Volumes []string `yaml:"volumes"`
			Ports   []string `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(read(t, rel)), &doc); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	emu, ok := doc.Services["emulator"]
	if !ok || !strings.Contains(emu.Image, "servicebus-emulator") {
		t.Fatalf("%s: no emulator service with the servicebus-emulator image", rel)
	}
	mounted := false
	for _, v := range emu.Volumes {
		mounted = mounted || strings.HasPrefix(v, "./Config.json:/ServiceBus_Emulator/ConfigFiles/Config.json")
	}
	if !mounted {
		t.Errorf("%s: Config.json is not mounted at /ServiceBus_Emulator/ConfigFiles/Config.json", rel)
	}
	amqp := false
	for _, p := range emu.Ports {
		amqp = amqp || strings.HasSuffix(p, ":5672:5672") || p == "5672:5672"
	}
	if !amqp {
		t.Errorf("%s: AMQP port 5672 is not published", rel)
	}
	if local := localSettings(t); !strings.Contains(local["ServiceBusConnection"], "UseDevelopmentEmulator=true") {
		t.Errorf("local.settings.sample.json: ServiceBusConnection is not the emulator connection string")
	}
}

func TestEventExamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root(), "examples", "events", "*.json"))
	if len(files) == 0 {
		t.Fatal("no examples/events/*.json")
	}
	handled := set(keyVaultEventTypes...)
	for _, f := range files {
		rel, _ := filepath.Rel(root(), f)
		rel = filepath.ToSlash(rel)
		var events []map[string]json.RawMessage
		readJSON(t, rel, &events)
		if len(events) == 0 {
			t.Errorf("%s: no events (Event Grid delivers an array)", rel)
		}
		for i, e := range events {
			where := fmt.Sprintf("%s[%d]", rel, i)
			get := func(k string) string {
				var s string
				_ = json.Unmarshal(e[k], &s)
				return s
			}
			var typ string
			var required []string
			if _, cloud := e["specversion"]; cloud {
				typ, required = get("type"), []string{"id", "source", "type", "time", "subject", "data", "specversion"}
				if get("specversion") != "1.0" {
					t.Errorf("%s: specversion %q, want 1.0", where, get("specversion"))
				}
			} else {
				typ, required = get("eventType"), []string{"id", "topic", "subject", "eventType", "eventTime", "data", "dataVersion", "metadataVersion"}
			}
			for _, k := range required {
				if _, ok := e[k]; !ok {
					t.Errorf("%s: missing %q", where, k)
				}
			}
			if !handled[typ] {
				t.Errorf("%s: type %q is not one of the subscribed Key Vault event types", where, typ)
			}
			var data map[string]string
			if err := json.Unmarshal(e["data"], &data); err != nil {
				t.Errorf("%s: data: %v", where, err)
				continue
			}
			vault, name := data["VaultName"], data["ObjectName"]
			if vault == "" || name == "" || name != get("subject") {
				t.Errorf("%s: data.VaultName %q, data.ObjectName %q, subject %q", where, vault, name, get("subject"))
			}
			if want := fmt.Sprintf("https://%s.vault.azure.net/", vault); !strings.HasPrefix(data["Id"], want) || !strings.Contains(data["Id"], "/"+name+"/"+data["Version"]) {
				t.Errorf("%s: data.Id %q does not name vault %s, object %s, version %s", where, data["Id"], vault, name, data["Version"])
			}
		}
	}
	var near []map[string]json.RawMessage
	readJSON(t, "examples/events/secret-near-expiry.json", &near)
	var subject string
	_ = json.Unmarshal(near[0]["subject"], &subject)
	if subject != "facebook-app-secret" || !strings.Contains(string(near[0]["data"]), `"contoso-idp-kv"`) {
		t.Errorf("examples/events/secret-near-expiry.json: want subject facebook-app-secret in vault contoso-idp-kv")
	}
}

// The endpoint watch runs every 10 minutes unless told otherwise, and every
// place that says so agrees: the sample settings, the Bicep default, the
// azd parameter default and the CLI's fallback (watch.DefaultSchedule),
// which the CLI and the WatchTimer read with the same NCRONTAB rules.
func TestWatchScheduleAgrees(t *testing.T) {
	want := watch.DefaultSchedule
	if _, err := watch.ParseSchedule(want); err != nil {
		t.Fatal(err)
	}
	if got := localSettings(t)["IDPKEEPER_WATCH_SCHEDULE"]; got != want {
		t.Errorf("local.settings.sample.json: IDPKEEPER_WATCH_SCHEDULE %q, want %q", got, want)
	}
	m := regexp.MustCompile(`(?m)^param\s+watchSchedule\s+string\s*=\s*'([^']+)'`).FindStringSubmatch(bicep(t, "infra/main.bicep"))
	if m == nil || m[1] != want {
		t.Errorf("infra/main.bicep: watchSchedule default %v, want %q", m, want)
	}
	var params struct {
		Parameters map[string]struct{ Value string } `json:"parameters"`
	}
	readJSON(t, "infra/main.parameters.json", &params)
	if got := params.Parameters["watchSchedule"].Value; got != "${IDPKEEPER_WATCH_SCHEDULE="+want+"}" {
		t.Errorf("infra/main.parameters.json: watchSchedule %q", got)
	}
}
