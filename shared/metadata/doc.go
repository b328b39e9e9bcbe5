// Package metadata watches a SAML 2.0 / WS-Federation partner's metadata the
// way Shibboleth and AD FS do, and turns what it sees into a safe change plan
// for Entra's samlOrWsFedExternalDomainFederation, which holds exactly one
// signing certificate per partner and never refreshes it by itself.
//
// The steps, each usable alone:
//
//   - Fetch (Fetcher, Source): https only unless a Source allows http; a
//     timeout; a body cap (50 MB by default) enforced while streaming; at
//     most 3 redirects, none changing the scheme; conditional GET with the
//     last record's ETag / Last-Modified (304 → Fetched.NotModified). MDQ
//     sources are fetched from {base}/entities/{percent-encoded entityID}.
//     Public addresses only (package netguard: checked on the URL, after DNS
//     resolution and on every redirect) unless Source.Network allows more.
//   - Read (Read, ReadOptions, Document): one streaming pass over
//     encoding/xml raw tokens finds the entity (by entityID, or the only IdP
//     entity), its SAML IDPSSODescriptor and WS-Fed STS RoleDescriptor
//     (signing certificates, SSO endpoints by binding, passive endpoint) and
//     the validUntil / cacheDuration of every element enclosing it. The
//     work is linear in the document; a context stops it (between two
//     reads of the input or two tokens); what must be held before the
//     signature is checked is capped by Limits (see "Hostile input").
//   - Verify (TrustAnchor): in the same pass, the root's enveloped
//     signature is checked against a pinned certificate or a SHA-256
//     fingerprint of the KeyInfo certificate. The entity is read from the
//     very tokens that were digested, so what is verified is what is used.
//     Refused: a second or misplaced root signature (the schema puts
//     ds:Signature first), a Reference other than "" or "#"+root ID, more
//     than one Reference, transforms other than enveloped-signature plus one
//     C14N, SHA-1 unless AllowSHA1 (errors.Is(err, ErrSHA1)), a digest
//     mismatch, an expired enclosing validUntil, duplicate entityIDs, DTDs
//     and repeated attributes. As in Shibboleth, a pinned certificate's own
//     validity dates are reported, not enforced. See "What was signed is
//     what is used" for how the reader and the digest are kept in step.
//   - Refresh ties fetch, read and Store together and keeps the last good
//     Record, so a failure never erases what was known.
//   - Plan (pure) compares an Observation with Entra's inventory.Federation
//     and returns a ChangePlan: in-sync, rollover-pending,
//     certificate-replaced, certificate-expiring, endpoint-changed,
//     issuer-changed or metadata-failure, with an Action (apply, propose,
//     notify, none), the Changes (certificates by SHA-256 thumbprint) and,
//     for apply/propose, the PATCH body. An issuer change is never applied;
//     nothing is applied from bytes that neither a signature nor https
//     vouched for, nor when several certificates could be the new one.
//
// Every failure is an *Error with a Kind (unreachable, tls, http-status,
// too-large, not-xml, not-metadata, signature, expired, unsigned, redirect,
// entity-not-found, ambiguous-entity, config, limit, canceled) so that
// reports and notices can say exactly what went wrong.
//
// # What was signed is what is used
//
// The reader takes its facts from the very tokens the digest is computed
// over, so the gap to close is between what a token means to the reader
// and what its canonical form fixes. Canonicalisation drops or moves
// namespace declarations, so every binding the reader relies on must be
// one the canonical form fixes:
//
//   - Namespace-ill-formed input is refused (not-xml) as libxml2 refuses
//     it: xmlns:p="" (XML 1.1 only; the canonical form drops it while a
//     reader would see the prefix lose its namespace, and signed SAML
//     elements would silently stop being SAML elements), the xml prefix or
//     namespace bound to anything but each other, the xmlns prefix or
//     namespace declared or used, names that are not QNames, two
//     attributes with one expanded name, a PI target with a colon, a
//     malformed or misplaced XML declaration. Element and attribute
//     prefixes are then always rendered by every canonicalisation, so
//     their bindings are signed.
//   - The one binding the reader relies on that Exclusive C14N does not
//     render by itself is the prefix inside a RoleDescriptor's xsi:type
//     (fed:SecurityTokenServiceType). When verifying, it is resolved as the
//     canonical form resolves it: where the canonical form binds the
//     prefix on the element (inclusive C14N, or a PrefixList naming it),
//     that binding decides and the document's own must equal it; where it
//     does not (Exclusive C14N without a PrefixList, as AD FS and Entra
//     sign), the binding the canonical form gives the prefix on the
//     role's first descendant that declares it decides (AD FS and Entra
//     roles use fed: on their children), and again the document's must
//     equal it. Where the signed form binds the prefix nowhere in the
//     role (its children in a default namespace), the signed bytes carry
//     only the local name, so SecurityTokenServiceType decides by
//     itself, and a document whose own binding names another namespace
//     is refused (signature) with a hint to sign with a PrefixList. The
//     same rules read unverified over a canonical form give the same
//     facts (FuzzFactsMatchCanonicalForm checks exactly that), and no
//     rebinding can make a signed role vanish or change type.
//   - Attribute values are normalised as XML 1.0 §3.3.3 says (a literal
//     tab, newline or CR is a space; &#10; stays a newline) by a lexical
//     filter in front of encoding/xml, which cannot tell the two apart
//     after decoding; the canonical form then agrees with libxml2's.
//   - A same-document Reference ("" or "#id") digests no comments
//     (XML-DSig 4.4.3.3) whatever its C14N says; a Reference URI="" covers
//     the processing instructions before and after the root (not the XML
//     declaration), as the document's canonical form does.
//
// # Roles and validUntil
//
// SAML metadata §2.4.1 gives RoleDescriptorType the validUntil of §2.3.1:
// a role past it is no longer valid. An IdP role (IDPSSODescriptor, WS-Fed
// STS RoleDescriptor) whose own validUntil has passed contributes nothing,
// as in Shibboleth (OpenSAML's role resolution skips invalid roles): its
// certificates and endpoints are not read, Entity.Problems says it
// expired, and the entity's other roles are still used. An entity left with
// no IdP role because all of them expired is refused as expired. A live
// role's validUntil is kept in Role.ValidUntil, and Plan treats a role
// that has expired since the record was read as absent. (The entity is not
// refused for one expired role: a partner that retires its SAML role but
// keeps WS-Fed is still a partner, and Plan moves Entra to the remaining
// protocol as it does when a role is dropped.) cacheDuration on a role is
// not read.
//
// # metadata inspect
//
// InspectCommand prints what it read even when it refuses: an expired,
// unsigned or unverifiable document is read a second time without
// verifying and without enforcing validUntil, and its entity, certificates
// and endpoints are shown marked REFUSED (JSON: ok false, error, and the
// document as read). Exit status: 0 accepted; 1 read and refused (not XML
// or not metadata, a limit, entity missing or ambiguous, signature, missing
// required signature, or an expired validUntil, with or without a trust
// anchor); 2 usage; 3 not read (file, network, fetch limits) or
// interrupted by SIGINT/SIGTERM, which ends the command even while a read
// is blocked.
//
// # Hostile input
//
// Partner metadata is attacker-reachable. Read is linear in the document:
// namespace lookups go through a per-prefix index, attribute checks and
// canonical ordering are O(n log n) per element, numbers and text are
// sliced or appended once, group validity is folded as groups open, the
// PrefixList is consulted per declaration, not per element. What must be
// held before the signature is checked is capped, each cap a KindLimit
// refusal whose *LimitError names it (Limits, DefaultLimits): MaxDepth
// (256, libxml2's default), MaxAttributes (1024 per element),
// MaxNamespaces (4096 in scope), MaxTokenBytes (4 MiB for one tag, text
// run, comment or CDATA section, enforced before encoding/xml buffers it),
// MaxSignatureBytes (256 KiB up to the end of the root signature) and
// MaxSignatureNodes (1000 tokens held there). An attribute value longer
// than 64 KiB never reaches encoding/xml whole (spill.go): its buffer
// doubles, then the value is copied, which made one maximal value cost four
// times the document. BenchmarkHostile has the worst input of each class.
//
// # Stricter than xmlsec1
//
// FuzzDifferentialXMLSec compares verdicts with xmlsec1 (libxml2,
// OpenSSL). This package never accepts a signature xmlsec1 refuses; it
// refuses some that xmlsec1 accepts, on purpose: a signature that is not
// the root's first child or a second one, more than one Reference or one
// not naming the root (wrapping); transforms other than enveloped plus
// one C14N, SHA-1 without AllowSHA1, unknown algorithms; an expired
// validUntil; the limits above; an xsi:type prefix the signature does not
// fix; documents encoding/xml or the checks above find not well-formed or
// namespace-ill-formed (DTDs, encodings other than UTF-8, XML 1.1, some of
// which libxml2 only warns about).
//
// # Why not verify with goxmldsig
//
// beevik/etree and russellhaering/goxmldsig are the usual Go choice and are
// used here in the tests, to sign fixtures and as an independent verifier.
// The production path does its own canonicalisation (canon.go, ~300 lines)
// and checks the signature with crypto/rsa and crypto/ecdsa, because on a
// federation aggregate goxmldsig falls short on four counts, measured on a
// generated, signed 10,000-entity aggregate of 47 MB (AMD EPYC, 2 cores):
//
//	                                      time     peak RSS   allocated
//	this package, streaming from a file   0.90 s    12 MB      68 MB
//	this package, document in memory      0.83 s    96 MB     113 MB
//	etree DOM parse only (no verify)      0.86 s   138 MB     166 MB
//	etree + goxmldsig Validate            3.4 s    587 MB     951 MB
//
// (a fresh process each, peak RSS from /usr/bin/time -v; the in-memory row
// includes the 47 MB document itself. go test -bench gives 0.78–0.95 s/op,
// 72 MB and 2.36 M allocations per find-and-verify, against 0.80–0.83 s/op,
// 174 MB and 3.36 M allocations for the bare DOM parse and 3.25 s/op,
// 997 MB and 13.4 M allocations for goxmldsig; encoding/xml's tokenizer is
// about 60% of our CPU time.) Besides memory,
// goxmldsig (v1.6.1) enforces the pinned certificate's validity dates
// (Shibboleth does not), takes the first signature that references the root
// instead of refusing a second one, sorts prefixed attributes by prefix
// rather than by namespace URI (its own code says so), and its exclusive
// canonicaliser rewrites the tree it is given. The canonicaliser here is
// checked against goxmldsig's output in the tests, against xmlsec1's
// verdicts on the real corpus (every document SOURCES.md marks as verifying
// verifies, every tampered one fails), against libxml2's canonical forms
// of the W3C examples, and fuzzed differentially against xmlsec1.
//
// After the hardening (issue 11), on a machine shared with other builds
// (load 7–18), the same aggregate costs 0.79–0.83 CPU s per find-and-verify
// against 1.06–1.07 before (the CPU time of 10 extra iterations of
// FindAndVerifyAggregate/bytes, per process), 71.5 MB and 2.31 M
// allocations per op (72 MB, 2.36 M before); the CLI streaming it from a
// file uses 0.94 CPU s and 30 MB peak RSS (0.93 s, 28 MB before).
// BenchmarkHostile's worst inputs, 8 MB each (12 MB for namespaces; the
// largest a limit lets through where smaller), in bytes per CPU second and
// peak live heap over document size:
//
//	class                                cpu-MB/s   peak/doc   before (cpu-MB/s)
//	long number (one 4 MB attribute)        57        4.0       > 240 s, quadratic
//	many text fragments                     29        1.06      17.7
//	namespace declarations at the cap       29        0.35       4.2
//	long PrefixList (1,000 prefixes)        27        0.29      > 240 s, quadratic
//	deep nesting (252 groups)               49        0.20      28
//	many prefixed attributes (1,000 each)   19        0.30       2.0
//	signature at the cap (256 KiB)          42        1.53      21 (uncapped before)
//	long text runs (4 MB each)              55        1.26      43
//	unsigned, signature required            47        0.37      34
//
// encoding/xml's tokenizer alone reads the same inputs at 45–110 CPU MB/s.
// The long number's 4× is encoding/xml buffering one maximal token (its
// buffer doubles, then the value is copied): bounded by MaxTokenBytes to
// about 16 MB, whatever the document.
//
// # Limits
//
//   - C14N 1.0 and Exclusive C14N 1.0 (with or without comments, with
//     InclusiveNamespaces) and C14N 1.1 for whole subtrees; no XPath or XSLT
//     transforms. Checked against the W3C recommendations' examples with
//     libxml2's outputs (TestCanonicalisationVectors).
//   - C14N 1.1's xml:base fix-up is not implemented: a SignedInfo in C14N
//     1.1 under an xml:base fails (closed).
//   - Only UTF-8 documents (a BOM is fine).
//   - ECDSA signature values are accepted as XML-DSig's r||s and as ASN.1
//     DER (which goxmldsig writes).
//   - Certificates with a negative serial number (old Microsoft ACS ones)
//     are refused by crypto/x509 since Go 1.23; metadata certificates are
//     still read (inventory.CertificateFromDER), but such a certificate
//     cannot serve as a trust anchor's key.
package metadata
