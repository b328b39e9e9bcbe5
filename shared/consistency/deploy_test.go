package consistency

import (
	"encoding/json"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// goFeature is one `X = Feature{…}` of shared/access/access.go.
type goFeature struct {
	Var, Name, KeyVaultRole, Setting, InfraParam, AzdEnv string
	GraphPermissions                                     []string
}

const accessRel = "shared/access/access.go"

// goFeatures reads the Feature values and the ValueReaders table of
// shared/access (as text: this package imports nothing of the app).
func goFeatures(t *testing.T) (map[string]goFeature, map[string]string) {
	t.Helper()
	src := read(t, accessRel)
	features := map[string]goFeature{}
	field := regexp.MustCompile(`(\w+):\s*"([^"]*)"`)
	for _, loc := range regexp.MustCompile(`(?m)^\s*(?:var\s+)?(\w+)\s*=\s*Feature\{`).FindAllStringSubmatchIndex(src, -1) {
		name := src[loc[2]:loc[3]]
		depth, end := 1, loc[1]
		for ; end < len(src) && depth > 0; end++ {
			switch src[end] {
			case '{':
				depth++
			case '}':
				depth--
			}
		}
		body := src[loc[1] : end-1]
		f := goFeature{Var: name}
		for _, m := range field.FindAllStringSubmatch(body, -1) {
			switch m[1] {
			case "Name":
				f.Name = m[2]
			case "KeyVaultRole":
				f.KeyVaultRole = m[2]
			case "Setting":
				f.Setting = m[2]
			case "InfraParam":
				f.InfraParam = m[2]
			case "AzdEnv":
				f.AzdEnv = m[2]
			}
		}
		if m := regexp.MustCompile(`GraphPermissions:\s*\[\]string\{([^}]*)\}`).FindStringSubmatch(body); m != nil {
			for _, q := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(m[1], -1) {
				f.GraphPermissions = append(f.GraphPermissions, q[1])
			}
		}
		features[name] = f
	}
	if len(features) < 3 {
		t.Fatalf("%s: found %d Feature values", accessRel, len(features))
	}
	readers := map[string]string{}
	loc := regexp.MustCompile(`var\s+ValueReaders\s*=\s*map\[string\]Feature\s*\{`).FindStringIndex(src)
	if loc == nil {
		t.Fatalf("%s: no ValueReaders table", accessRel)
	}
	table := src[loc[1]:]
	table = table[:strings.Index(table, "}")]
	for _, m := range regexp.MustCompile(`"([^"]+)"\s*:\s*(\w+)`).FindAllStringSubmatch(table, -1) {
		readers[m[1]] = m[2]
	}
	return features, readers
}

// moduleBlock is the params body of `module <symbol> '…' = …`.
func moduleParams(t *testing.T, main, symbol string) string {
	t.Helper()
	mod := block(t, main, regexp.MustCompile(`(?m)^module\s+`+symbol+`\s+'[^']+'\s*=[^{]*\{`), "infra/main.bicep module "+symbol)
	return block(t, "x"+mod, regexp.MustCompile(`params\s*:`), "infra/main.bicep module "+symbol)
}

// boundTo returns the module parameter that receives main's param.
func boundTo(params, mainParam string) string {
	m := regexp.MustCompile(`(?m)^\s*(\w+)\s*:\s*` + regexp.QuoteMeta(mainParam) + `\s*$`).FindStringSubmatch(params)
	if m == nil {
		return ""
	}
	return m[1]
}

var keyVaultRoleKeys = map[string]string{
	"Key Vault Reader":          "keyVaultReader",
	"Key Vault Secrets User":    "keyVaultSecretsUser",
	"Key Vault Secrets Officer": "keyVaultSecretsOfficer",
}

// Roles granted ⇔ features enabled ⇔ calls made. For every feature of
// shared/access that needs more than reading: one infra parameter (set from
// one azd variable) grants its Key Vault role and Graph permissions and sets
// the app setting the code checks; and the code reads secret values only in
// the files shared/access lists, each gated by its feature.
func TestFeaturesGrantsAndCalls(t *testing.T) {
	features, readers := goFeatures(t)
	main := bicep(t, "infra/main.bicep")
	var pf struct {
		Parameters map[string]struct {
			Value any `json:"value"`
		} `json:"parameters"`
	}
	readJSON(t, "infra/main.parameters.json", &pf)
	kvRoles := roleAssignments(bicep(t, "infra/modules/roles-keyvault.bicep"))
	kvParams := moduleParams(t, main, "keyVaultRoles")
	faParams := moduleParams(t, main, "functionApp")
	graphParams := moduleParams(t, main, "graphPermissions")
	graphSrc := bicep(t, "infra/modules/graph-permissions.bicep")
	appSettings := infraAppSettings(t)
	goConsts := goStringConsts(goSources(t, "functions"))

	for _, f := range features {
		if f.InfraParam == "" {
			// Without a switch infra grants nothing beyond Reader; a role
			// that reads values is then the operator's own (a command run
			// with their sign-in), never the app identity's.
			if f.KeyVaultRole != "Key Vault Reader" {
				for rel, feature := range readers {
					if feature == f.Var && !strings.HasPrefix(rel, "functions/cmd_") {
						t.Errorf("%s: %s reads values for feature %s, which has no infra switch", accessRel, rel, f.Var)
					}
				}
			}
			continue
		}
		// infra parameter ← azd variable
		if !regexp.MustCompile(`(?m)^param\s+` + f.InfraParam + `\s+bool\b`).MatchString(main) {
			t.Errorf("infra/main.bicep: no `param %s bool` (feature %s)", f.InfraParam, f.Var)
		}
		if v, _ := pf.Parameters[f.InfraParam].Value.(string); !strings.HasPrefix(v, "${"+f.AzdEnv+"=") {
			t.Errorf("infra/main.parameters.json: %s = %q, want ${%s=…} (shared/access %s.AzdEnv)", f.InfraParam, v, f.AzdEnv, f.Var)
		}
		// parameter → Key Vault role
		if key := keyVaultRoleKeys[f.KeyVaultRole]; f.KeyVaultRole != "" {
			param := boundTo(kvParams, f.InfraParam)
			if param == "" {
				t.Errorf("infra/main.bicep: module keyVaultRoles does not receive %s", f.InfraParam)
			}
			n := 0
			for _, a := range kvRoles {
				if a.role == key {
					n++
					if param != "" && !strings.HasPrefix(a.cond, param) {
						t.Errorf("roles-keyvault.bicep: %s (%s) is granted if (%s), not by %s", a.name, f.KeyVaultRole, a.cond, param)
					}
				}
			}
			if n == 0 {
				t.Errorf("roles-keyvault.bicep: %s (feature %s) is never granted", f.KeyVaultRole, f.Var)
			}
		}
		// parameter → Graph application permissions
		for _, perm := range f.GraphPermissions {
			param := boundTo(graphParams, f.InfraParam)
			re := regexp.MustCompile(`(?m)^var\s+\w+\s*=\s*(\w+)\s*\?`)
			found := false
			for _, loc := range re.FindAllStringSubmatchIndex(graphSrc, -1) {
				cond := graphSrc[loc[2]:loc[3]]
				body := block(t, graphSrc[loc[0]:], regexp.MustCompile(`\?`), "graph-permissions.bicep")
				if strings.Contains(body, "'"+perm+"'") {
					found = true
					if cond != param {
						t.Errorf("graph-permissions.bicep: %s is granted when %s, but main passes %s as %q", perm, cond, f.InfraParam, param)
					}
				}
			}
			if !found {
				t.Errorf("graph-permissions.bicep: %s (feature %s) is not granted conditionally", perm, f.Var)
			}
		}
		// parameter → app setting → the code's switch. (The mail switch is
		// the mailbox itself, a string set by noticeMailbox.)
		if f.Setting != "" && f.Var != "MailNotices" {
			param := boundTo(faParams, f.InfraParam)
			if v := appSettings[f.Setting]; param == "" || v != param+" ? 'true' : 'false'" {
				t.Errorf("functionapp.bicep: %s = %q; want it to follow %s (main passes it as %q)", f.Setting, v, f.InfraParam, param)
			}
			found := false
			for _, v := range goConsts {
				found = found || v == f.Setting
			}
			if !found {
				t.Errorf("functions/: no constant for app setting %s (feature %s)", f.Setting, f.Var)
			}
		}
	}

	// Calls made: the non-test Go files that read a secret value are
	// exactly those shared/access lists, and each checks its switch.
	var got []string
	for _, dir := range append(goDirs(t), "shared/repair/staged") {
		for rel, src := range goSources(t, dir) {
			if strings.Contains(src, ".GetSecret(") {
				got = append(got, rel)
			}
		}
	}
	sort.Strings(got)
	want := keys(readers)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("secret values are read in %v; %s ValueReaders lists %v", got, accessRel, want)
	}
	gates := map[string]*regexp.Regexp{
		"ProbeCredentials": regexp.MustCompile(`\bProbeCredentials\b`),
		"Repair":           regexp.MustCompile(`\b(DryRun|Apply)\b`),
		"OperatorProbe":    regexp.MustCompile(`probe connector`),
	}
	for rel, feature := range readers {
		if _, ok := features[feature]; !ok {
			t.Errorf("%s: ValueReaders[%s] = %s, not a Feature", accessRel, rel, feature)
		}
		if g := gates[feature]; g == nil || !g.MatchString(read(t, rel)) {
			t.Errorf("%s reads secret values but does not check %s", rel, feature)
		}
	}
}

// goSources does not descend; goDirs lists shared/* one level deep. This
// makes sure no package deeper down reads values unnoticed.
func TestNoDeepValueReaders(t *testing.T) {
	_, readers := goFeatures(t)
	filepath.WalkDir(filepath.Join(root(), "shared"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root(), p)
		rel = filepath.ToSlash(rel)
		if strings.Contains(read(t, rel), ".GetSecret(") {
			if _, ok := readers[rel]; !ok {
				t.Errorf("%s reads secret values and is not in shared/access ValueReaders", rel)
			}
		}
		return nil
	})
}

// Service Bus: Data Owner on each job queue (target-based scaling needs
// the Manage claim), nothing on the namespace.
func TestServiceBusScalingRoles(t *testing.T) {
	const rel = "infra/modules/roles.bicep"
	src := bicep(t, rel)
	ids := objectStrings(block(t, src, regexp.MustCompile(`(?m)^var\s+roleIds\s*=`), rel))
	if ids["serviceBusDataOwner"] != "090c5cfd-751d-490a-894a-3ce6f1109419" {
		t.Errorf("%s: serviceBusDataOwner = %q", rel, ids["serviceBusDataOwner"])
	}
	owners := 0
	for _, a := range roleAssignments(src) {
		if !strings.HasPrefix(a.role, "serviceBus") {
			continue
		}
		if a.role != "serviceBusDataOwner" || a.scope != "queues[i]" {
			t.Errorf("%s: %s assigns %s at %s; want serviceBusDataOwner on each queue (queues[i])", rel, a.name, a.role, a.scope)
		}
		owners++
	}
	if owners != 1 || !regexp.MustCompile(`for\s*\(\s*\w+\s*,\s*i\s*\)\s+in\s+queueNames\s*:`).MatchString(src) {
		t.Errorf("%s: want one role assignment looping over queueNames, found %d", rel, owners)
	}
	if p := moduleParams(t, bicep(t, "infra/main.bicep"), "roles"); !regexp.MustCompile(`(?m)^\s*queueNames\s*:\s*serviceBus\.outputs\.queueNames\s*$`).MatchString(p) {
		t.Error("infra/main.bicep: module roles does not get the queues the namespace module created")
	}
}

// The two-phase deployment and the redeploy after azd down: the Event Grid
// subscription and the Graph grants wait for deployPhase complete (set by
// the postdeploy hook), the vault name carries the salt the postdown hook
// changes, and the hooks use the azd variables main.parameters.json reads.
func TestDeployPhasesAndRedeploy(t *testing.T) {
	main := bicep(t, "infra/main.bicep")
	if !regexp.MustCompile(`(?s)@allowed\(\[\s*'initial'\s*'complete'\s*\]\)\s*param\s+deployPhase\s+string\s*=\s*'initial'`).MatchString(main) {
		t.Error("infra/main.bicep: want `param deployPhase string = 'initial'` allowed initial|complete")
	}
	if !regexp.MustCompile(`(?m)^var\s+completePhase\s*=\s*deployPhase\s*==\s*'complete'`).MatchString(main) {
		t.Error("infra/main.bicep: no `var completePhase = deployPhase == 'complete'`")
	}
	if !regexp.MustCompile(`module\s+graphPermissions\s+'[^']+'\s*=\s*if\s*\(\s*grantGraphPermissions\s*&&\s*completePhase\s*\)`).MatchString(main) {
		t.Error("infra/main.bicep: the Graph grants must wait for the complete phase (the identity replicates meanwhile)")
	}
	if p := moduleParams(t, main, "eventGrid"); boundTo(p, "completePhase") != "createSubscription" {
		t.Error("infra/main.bicep: the Event Grid subscription must be created in the complete phase")
	}
	if !strings.Contains(main, "uniqueString(resourceToken, keyVaultNameSalt)") {
		t.Error("infra/main.bicep: the vault name does not use keyVaultNameSalt")
	}

	hooks := read(t, "infra/tools/funcapp/hooks.go")
	consts := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(env\w+|out\w+)\s*=\s*"([^"]+)"`).FindAllStringSubmatch(hooks, -1) {
		consts[m[1]] = m[2]
	}
	var pf struct {
		Parameters map[string]struct {
			Value any `json:"value"`
		} `json:"parameters"`
	}
	readJSON(t, "infra/main.parameters.json", &pf)
	for envConst, param := range map[string]string{
		"envPhase": "deployPhase", "envAckURL": "ackUrl", "envVaultSalt": "keyVaultNameSalt",
		"envExistingVault": "existingKeyVaultName", "envGrantGraph": "grantGraphPermissions",
		"envAckKey": "ackLinkKey", "envReportURL": "reportUrl",
	} {
		v, _ := pf.Parameters[param].Value.(string)
		if consts[envConst] == "" || !strings.HasPrefix(v, "${"+consts[envConst]+"=") {
			t.Errorf("infra/tools/funcapp/hooks.go %s = %q, but main.parameters.json sets %s from %q", envConst, consts[envConst], param, v)
		}
	}
	for c, out := range consts {
		if strings.HasPrefix(c, "out") && !regexp.MustCompile(`(?m)^output\s+`+out+`\s`).MatchString(main) {
			t.Errorf("infra/tools/funcapp/hooks.go reads output %s, which infra/main.bicep does not write", out)
		}
	}
}

// The local stage: local.settings.sample.json overrides host.json's handler
// path with the name the native stage writes (idpkeeper, idpkeeper.exe on
// Windows), through the host's AzureFunctionsJobHost__ override.
func TestLocalStageOverride(t *testing.T) {
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal([]byte(read(t, "host.json")), &host); err != nil {
		t.Fatal(err)
	}
	const key = "AzureFunctionsJobHost__customHandler__description__defaultExecutablePath"
	if v := localSettings(t)[key]; v != host.CustomHandler.Description.DefaultExecutablePath {
		t.Errorf("local.settings.sample.json %s = %q, host.json defaultExecutablePath %q", key, v, host.CustomHandler.Description.DefaultExecutablePath)
	}
	if !strings.Contains(read(t, "shared/funcpackage/funcpackage.go"), `ExecutablePathOverride = "`+key+`"`) {
		t.Errorf("shared/funcpackage does not write %s", key)
	}
}

// The acknowledgement link key, from the hook to the code: the postdeploy
// hook's azd variable is the @secure ackLinkKey parameter; ackkey.bicep
// stores it as a secret and grants the app's identity Key Vault Secrets
// User on that secret only; the app setting the code reads
// (IDPKEEPER_ACK_KEY, functions/pipeline.go) is a Key Vault reference to it,
// resolved with the user-assigned identity; the Ack function that verifies
// the links is anonymous and IDPKEEPER_ACK_URL carries no function key.
func TestAckLinkKey(t *testing.T) {
	main := bicep(t, "infra/main.bicep")
	if !regexp.MustCompile(`@secure\(\)\s*(@description\('[^\n]*'\)\s*)?param\s+ackLinkKey\s+string\s*=\s*''`).MatchString(main) {
		t.Error("infra/main.bicep: want `@secure() param ackLinkKey string = ''`")
	}
	if !regexp.MustCompile(`@secure\(\)\s*(@description\('[^\n]*'\)\s*)?param\s+reportUrl\s+string`).MatchString(main) {
		t.Error("infra/main.bicep: reportUrl carries the Report function's key: it must be @secure()")
	}
	if !regexp.MustCompile(`module\s+ackKey\s+'modules/ackkey\.bicep'\s*=\s*if\s*\(\s*!empty\(ackLinkKey\)\s*\)`).MatchString(main) {
		t.Error("infra/main.bicep: module ackKey must be deployed if (!empty(ackLinkKey))")
	}
	ak := moduleParams(t, main, "ackKey")
	if boundTo(ak, "ackLinkKey") != "ackLinkKey" || boundTo(ak, "identity.outputs.principalId") != "principalId" {
		t.Errorf("infra/main.bicep: module ackKey params:\n%s", ak)
	}
	fa := moduleParams(t, main, "functionApp")
	if !regexp.MustCompile(`(?m)^\s*ackKeySecretUri\s*:\s*empty\(ackLinkKey\)\s*\?\s*''\s*:\s*ackKey!\.outputs\.secretUri\s*$`).MatchString(fa) {
		t.Error("infra/main.bicep: functionApp.ackKeySecretUri must come from module ackKey")
	}

	const rel = "infra/modules/ackkey.bicep"
	src := bicep(t, rel)
	ids := objectStrings(block(t, src, regexp.MustCompile(`(?m)^var\s+roleIds\s*=`), rel))
	if ids["keyVaultSecretsUser"] != "4633458b-17de-408a-b874-0445c86b69e6" {
		t.Errorf("%s: keyVaultSecretsUser = %q", rel, ids["keyVaultSecretsUser"])
	}
	if !regexp.MustCompile(`(?m)^resource\s+ackKey\s+'Microsoft\.KeyVault/vaults/secrets@`).MatchString(src) {
		t.Errorf("%s: no secret resource ackKey", rel)
	}
	as := roleAssignments(src)
	if len(as) != 1 || as[0].role != "keyVaultSecretsUser" || as[0].scope != "ackKey" || as[0].cond != "" {
		t.Errorf("%s: want exactly one Key Vault Secrets User assignment scoped to the secret (scope: ackKey), got %+v", rel, as)
	}

	settings := infraAppSettings(t)
	fsrc := bicep(t, "infra/modules/functionapp.bicep")
	if _, ok := settings["IDPKEEPER_ACK_KEY"]; !ok || !strings.Contains(fsrc, "{ name: 'IDPKEEPER_ACK_KEY', value: empty(ackKeySecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${ackKeySecretUri})' }") {
		t.Errorf("functionapp.bicep: IDPKEEPER_ACK_KEY must be a Key Vault reference to ackKeySecretUri")
	}
	if v := settings["IDPKEEPER_REPORT_URL"]; v != "reportUrl" {
		t.Errorf("functionapp.bicep: IDPKEEPER_REPORT_URL = %s, want reportUrl", v)
	}
	if !regexp.MustCompile(`(?m)^\s*keyVaultReferenceIdentity\s*:\s*identityId\s*$`).MatchString(fsrc) {
		t.Error("functionapp.bicep: Key Vault references must be resolved with the user-assigned identity (keyVaultReferenceIdentity: identityId)")
	}
	if regexp.MustCompile(`(?i)ack[^\n]*code=`).MatchString(read(t, "infra/tools/funcapp/hooks.go")) {
		t.Error("infra/tools/funcapp/hooks.go: the Ack URL must not carry a function key (code=)")
	}
	if !strings.Contains(read(t, "functions/pipeline.go"), `settingAckKey = "IDPKEEPER_ACK_KEY"`) {
		t.Error("functions/pipeline.go: the code does not read IDPKEEPER_ACK_KEY (settingAckKey)")
	}
}
