package metadata

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// startTags reads doc's start tags through the lexical filter, as Read
// does. With at > 0 long values are diverted from at bytes on (Read uses
// spillAt) and claimed back; with at == 0 encoding/xml reads them whole.
func startTags(doc []byte, at int) ([]xml.StartElement, error) {
	return startTagsSized(doc, at, 3*at, int64(len(doc)))
}

// startTagsSized is startTags with diverted values reserved for from big
// bytes on, and size the input size announced (-1 unknown).
func startTagsSized(doc []byte, at, big int, size int64) ([]xml.StartElement, error) {
	lex := newLexFilter(context.Background(), bytes.NewReader(doc), DefaultLimits)
	if at > 0 {
		lex.spill = newSpiller(size)
		lex.spill.at, lex.spill.big = at, big
	}
	dec := xml.NewDecoder(lex)
	dec.Strict = true
	var out []xml.StartElement
	for n := 0; ; {
		tok, err := dec.RawToken()
		if err == io.EOF {
			if lex.spill != nil && lex.spill.unclaimed() {
				return out, errSpillMismatch
			}
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if el, ok := tok.(xml.StartElement); ok {
			n++
			if lex.spill != nil {
				if _, err := lex.spill.claim(&el, n); err != nil {
					return out, err
				}
			}
			out = append(out, el.Copy())
		}
	}
}

// checkDiversion wants the same start tags, or an error both ways, with
// and without diversion.
func checkDiversion(t *testing.T, doc []byte, at int) {
	t.Helper()
	checkDiversionSized(t, doc, at, 3*at, int64(len(doc)))
}

func checkDiversionSized(t *testing.T, doc []byte, at, big int, size int64) {
	t.Helper()
	want, wantErr := startTags(doc, 0)
	got, gotErr := startTagsSized(doc, at, big, size)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("diverted from %d bytes: error %v, whole: error %v\n%q", at, gotErr, wantErr, clip(string(doc)))
	}
	if wantErr != nil {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("diverted: %d start tags, whole: %d", len(got), len(want))
	}
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Fatalf("start tag %d differs\n got %q\nwant %q", i, clip(fmt.Sprint(got[i])), clip(fmt.Sprint(want[i])))
		}
	}
}

// valuePieces make attribute values that exercise every rule of the
// diversion: references of each kind (with leading zeros, at the limits
// of validity, invalid), multi-byte characters, invalid UTF-8, characters
// the decoder refuses, line ends and tabs, the other quote, "]]>".
var valuePieces = []string{
	"a", "0123456789", " ", "é", "€", "𝄞", "\t", "\n", "\r\n", "\r", "'", "]]>", ">",
	"&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#65;", "&#x41;", "&#x1F600;", "&#1114111;", "&#x10FFFF;",
	"&#0000000000000000000000065;", "&#x000000000000000000041;", "&#13;", "&#10;", "&#9;", "&#xD;&#xA;",
	"&#0;", "&#x110000;", "&#123456789;", "&#x;", "&#;", "&;", "&bogus;", "&amp", "&#65", "&verylongentitynamethatisnotpredefined;",
	"&#00000000000000000000000000000000000000000000000000;", "\x80", "\xc3", "\xff", "\x01", "<", "&&",
}

func TestDivertedValuesReadAsWhole(t *testing.T) {
	readsAlone := map[string]bool{} // pieces that are a valid value by themselves
	for _, p := range valuePieces {
		_, err := startTags([]byte(`<r a='`+p+`'/>`), 0)
		readsAlone[p] = err == nil
	}
	r := rand.New(rand.NewPCG(5, 6))
	for n := range 3000 {
		at := 1 + r.IntN(40)
		var v strings.Builder
		// Mostly valid values (a bad piece refuses the whole document,
		// which needs testing less often than values that read).
		valid := r.IntN(3) > 0
		for v.Len() < at*(1+r.IntN(6)) {
			p := valuePieces[r.IntN(len(valuePieces))]
			if valid && !readsAlone[p] {
				continue
			}
			v.WriteString(p)
		}
		q := `"`
		if r.IntN(2) == 0 {
			q = `'`
		}
		val := v.String()
		if q == `"` {
			val = strings.ReplaceAll(val, `"`, "&quot;")
		}
		doc := `<r a=` + q + val + q + ` b="short"><c d=` + q + val + val + q + `/>` + `<e f=` + q + val[:len(val)/2] + q + `/></r>`
		// Reservations from a few chunks on, sized from the input or
		// (unknown size) from the token's limit.
		big, size := at*(1+r.IntN(4)), int64(len(doc))
		if r.IntN(4) == 0 {
			size = -1
		}
		t.Run(fmt.Sprint(n), func(t *testing.T) { checkDiversionSized(t, []byte(doc), at, big, size) })
	}
}

func FuzzDivertedValues(f *testing.F) {
	for _, p := range valuePieces {
		f.Add(strings.Repeat("x", 20)+p+strings.Repeat(p, 3), uint8(8), false)
	}
	f.Fuzz(func(t *testing.T, value string, at uint8, single bool) {
		q := `"`
		if single {
			q = `'`
		}
		doc := `<r a=` + q + value + q + ` b=` + q + value + value + q + `><c d="x"/></r>`
		checkDiversionSized(t, []byte(doc), 1+int(at%64), 1+int(at/4), int64(len(doc)))
	})
}

// TestDivertedValueRefusals: what can only be an error is refused as soon
// as the value is long, before it is read to its end.
func TestDivertedValueRefusals(t *testing.T) {
	long := strings.Repeat("1", spillAt)
	for name, tail := range map[string]string{
		"a long entity name":              "&" + strings.Repeat("a", 1<<20) + ";",
		"too many digits":                 "&#" + strings.Repeat("1", 1<<20) + ";",
		"continuation bytes":              strings.Repeat("\x80", 1<<20),
		"a character the decoder refuses": "&#1;" + strings.Repeat("1", 1<<20),
	} {
		t.Run(name, func(t *testing.T) {
			doc := []byte(`<md:EntityDescriptor xmlns:md="` + nsMD + `" entityID="urn:x" x="` + long + tail + `"/>`)
			_, err := ReadBytes(context.Background(), doc, ReadOptions{Now: testNow})
			wantKind(t, err, KindNotXML)
			checkDiversion(t, doc, spillAt)
		})
	}
	// Leading zeros by the megabyte are one character. (Not on the root:
	// its start tag counts towards MaxSignatureBytes.)
	doc := []byte(`<md:EntitiesDescriptor xmlns:md="` + nsMD + `"><md:EntityDescriptor entityID="urn:x` + long + `&#` + strings.Repeat("0", 1<<20) + `65;"><md:IDPSSODescriptor protocolSupportEnumeration="p"/></md:EntityDescriptor></md:EntitiesDescriptor>`)
	d := mustRead(t, doc, ReadOptions{Now: testNow})
	if d.Entity.EntityID != "urn:x"+long+"A" {
		t.Fatalf("entityID %q", clip(d.Entity.EntityID))
	}
}
