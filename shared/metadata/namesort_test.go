package metadata

import (
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// checkNameSort sorts names with nameSorter and with a comparison sort and
// wants the same order, equal names in index order.
func checkNameSort(t *testing.T, names []xml.Name) {
	t.Helper()
	var s nameSorter
	got := make([]int32, len(names))
	want := make([]int32, len(names))
	for i := range names {
		got[i], want[i] = int32(i), int32(i)
	}
	s.sort(got, names)
	slices.SortStableFunc(want, func(a, b int32) int { return compareNames(names[a], names[b]) })
	if !slices.Equal(got, want) {
		show := func(order []int32) string {
			var b strings.Builder
			for _, i := range order {
				fmt.Fprintf(&b, "%d:{%q %q} ", i, names[i].Space, names[i].Local)
			}
			return b.String()
		}
		t.Fatalf("order differs from a comparison sort\n got %s\nwant %s", show(got), show(want))
	}
}

func TestNameSorterOrdersAsStringsCompare(t *testing.T) {
	long := strings.Repeat("x", 200)
	cases := map[string][]xml.Name{
		"empty":  nil,
		"one":    {{Space: "a", Local: "b"}},
		"spaces": {{Space: "urn:b"}, {Space: "urn:a"}, {Space: ""}, {Space: "urn:"}, {Space: "urn:a:1"}, {Space: "urn:a"}},
		// A Space that is a prefix of another, against the local name
		// that follows it (the NUL separator must sort first).
		"prefix of another": {{Space: "ab", Local: "c"}, {Space: "a", Local: "bc"}, {Space: "a", Local: "b"}, {Space: "abc", Local: "a"}, {Space: "", Local: "a"}},
		// Ties beyond every key level: left to the comparison sort.
		"long common infix": {{Space: "u:" + long + "2"}, {Space: "u:" + long + "1"}, {Space: "v:" + long + "1"}, {Space: "u:" + long + "1", Local: "z"}, {Space: "u:" + long}},
		"repeats":           {{Space: "u", Local: "x"}, {Space: "v", Local: "x"}, {Space: "u", Local: "x"}, {Space: "u", Local: "x"}, {Space: "u", Local: "y"}},
		"non-ASCII":         {{Space: "urn:é"}, {Space: "urn:e"}, {Space: "urn:\xff"}, {Space: "urn:\x7f"}, {Space: "urn:z"}},
	}
	for name, names := range cases {
		t.Run(name, func(t *testing.T) { checkNameSort(t, names) })
	}
	// The shapes of the hostile benchmark, and many random ones.
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		var names []xml.Name
		count := 1 + r.IntN(1200)
		alphabet := []string{"a", "b", "urn:", ":", "0", "1", "9", "x", long[:r.IntN(20)]}
		for range count {
			var sp, loc strings.Builder
			for range r.IntN(6) {
				sp.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			for range 1 + r.IntN(2) {
				loc.WriteString(alphabet[r.IntN(4)])
			}
			names = append(names, xml.Name{Space: sp.String(), Local: loc.String()})
		}
		t.Run(fmt.Sprintf("random %d", n), func(t *testing.T) { checkNameSort(t, names) })
	}
	var hostile []xml.Name
	for p := range 1000 {
		hostile = append(hostile, xml.Name{Space: fmt.Sprintf("urn:a:%d", p), Local: "x"})
	}
	checkNameSort(t, hostile)
}

func FuzzNameSorter(f *testing.F) {
	f.Add("urn:a:1 x\nurn:a:10 x\nurn:a:2 y\n\nurn:a:1 x")
	f.Fuzz(func(t *testing.T, list string) {
		var names []xml.Name
		for line := range strings.SplitSeq(list, "\n") {
			// NUL is not an XML character: no name holds one.
			sp, loc, _ := strings.Cut(strings.ReplaceAll(line, "\x00", ""), " ")
			names = append(names, xml.Name{Space: sp, Local: loc})
		}
		checkNameSort(t, names)
	})
}

// TestManyPrefixedAttributesCanonicalAsXMLSec: elements with many
// prefixed attributes in no particular order, prefixes sharing long
// beginnings, several prefixes bound to one namespace, prefixes rebound
// further down (to the same and to another namespace), unprefixed and
// xml: attributes: xmlsec1 signs them in each canonicalisation and we
// verify, or the canonical forms differ.
func TestManyPrefixedAttributesCanonicalAsXMLSec(t *testing.T) {
	xmlsecPath(t)
	r := rand.New(rand.NewPCG(3, 4))
	long := strings.Repeat("p", 40)
	prefix := func(i int) string {
		switch i % 3 {
		case 0:
			return fmt.Sprintf("a%d", i)
		case 1:
			return fmt.Sprintf("%s%d", long, i) // ties past several key levels
		}
		return fmt.Sprintf("b%03d", i)
	}
	const n = 60
	var decls strings.Builder
	for i := range n {
		// Every fifth prefix shares its namespace with the one before.
		uri := fmt.Sprintf("urn:x:%d", i-i%5/4)
		fmt.Fprintf(&decls, ` xmlns:%s="%s"`, prefix(i), uri)
	}
	attrs := func(locals string) string {
		var b strings.Builder
		for _, i := range r.Perm(n) {
			local := locals
			if i%5 == 4 { // its namespace is its neighbour's: another name
				local += "2"
			}
			fmt.Fprintf(&b, ` %s:%s="%d"`, prefix(i), local, i)
		}
		for _, i := range r.Perm(12) {
			fmt.Fprintf(&b, ` u%d="%d"`, i, i)
		}
		b.WriteString(` xml:lang="en"`)
		return b.String()
	}
	doc := `<md:EntityDescriptor xmlns:md="` + nsMD + `"` + decls.String() + ` ID="m" entityID="urn:many">` + sigMarker +
		`<md:Extensions` + attrs("x") + `><md:Extensions xmlns:` + prefix(1) + `="urn:x:1" xmlns:` + prefix(2) + `="urn:rebound"` + attrs("y") + `/></md:Extensions>` +
		`<md:Extensions` + attrs("z") + `/>` +
		`<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="` + BindingHTTPRedirect + `" Location="https://many.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`
	for _, c14n := range []sigTmpl{
		{c14n: algExcC14N, uri: "#m"},
		{c14n: algExcC14N, prefixList: prefix(4) + " " + prefix(1) + " #default", uri: "#m"},
		{c14n: algC14N10, uri: "#m"},
		{c14n: algC14N11WithComments},
	} {
		t.Run(c14n.c14n+" "+c14n.prefixList, func(t *testing.T) {
			k := key(t, "rsa-federation")
			signed := xmlsecSigned(t, doc, k, c14n)
			expectVerdict(t, signed, k, true)
			expectVerdict(t, replaceOnce(t, signed, ` u7="7"`, ` u7="8"`), k, false)
		})
	}
}
