#!/usr/bin/env python3
"""Regenerates the expected canonical forms in this folder with libxml2's
canonicaliser, through xmllint (libxml2-utils) and xmlsec1 (xmlsec1):

  NAME.xml              input
  NAME.MODE.out         its canonical form, for MODE:
    c14n-comments, exc-comments, c14n11-comments
                        the whole document, with comments: `xmllint --MODE`
    c14n, exc, exc-prefixlist, c14n11
                        the whole document without comments (a Reference
                        URI=""), as xmlsec1 digests it: the document is signed
                        with an enveloped signature whose Reference uses the
                        MODE transform, and xmlsec1 --verify --store-references
                        prints the pre-digest bytes (the signature removed).
  subtree-NAME.xml      input whose element Id="e2" is signed instead
                        (URI="#e2"): the canonical form of a subtree whose
                        apex has ancestors (inherited namespaces and xml:*
                        attributes), as a SignedInfo is canonicalised.

Run it from this folder: python3 generate.py (needs xmllint, xmlsec1, openssl).
"""
import glob, os, re, subprocess, tempfile

ALG = {
    "c14n": "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "exc": "http://www.w3.org/2001/10/xml-exc-c14n#",
    "exc-prefixlist": "http://www.w3.org/2001/10/xml-exc-c14n#",
    "c14n11": "http://www.w3.org/2006/12/xml-c14n11",
}
PREFIXLIST = "n1 n3 #default xsi"

def signature(mode, uri=""):
    alg = ALG[mode]
    incl = ""
    if mode == "exc-prefixlist":
        incl = '<ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="%s"/>' % PREFIXLIST
    return ('<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
            '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
            '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
            '<ds:Reference URI="%s"><ds:Transforms>'
            '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
            '<ds:Transform Algorithm="%s">%s</ds:Transform></ds:Transforms>'
            '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/>'
            '</ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>') % (uri, alg, incl)

def root_start_end(doc):
    i = 0
    while True:
        i = doc.index(b"<", i)
        if doc[i+1:i+2] not in (b"?", b"!"):
            return doc.index(b">", i)
        i += 1

def main():
    tmp = tempfile.mkdtemp()
    key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=c14n"], check=True, capture_output=True)
    for src in sorted(glob.glob("*.xml")):
        name = src[:-4]
        subtree = name.startswith("subtree-")
        for mode in () if subtree else ("c14n", "exc", "c14n11"):
            out = subprocess.run(["xmllint", "--" + mode + ("-c14n" if mode == "exc" else ""), src],
                                 check=True, capture_output=True).stdout
            open("%s.%s-comments.out" % (name, mode), "wb").write(out)
        doc = open(src, "rb").read()
        at = root_start_end(doc) + 1
        for mode in ALG:
            tmpl = doc[:at] + signature(mode, "#e2" if subtree else "").encode() + doc[at:]
            t, s = os.path.join(tmp, "t.xml"), os.path.join(tmp, "s.xml")
            open(t, "wb").write(tmpl)
            ids = ["--id-attr:Id", "http://example.net:elem2"]
            subprocess.run(["xmlsec1", "--sign", "--privkey-pem", key] + ids + ["--output", s, t], check=True, capture_output=True)
            log = subprocess.run(["xmlsec1", "--verify", "--store-references", "--pubkey-cert-pem", cert] + ids + [s],
                                 check=True, capture_output=True).stdout
            m = re.search(rb"== PreDigest data - start buffer:\n(.*)\n== PreDigest data - end buffer", log, re.S)
            open("%s.%s.out" % (name, mode), "wb").write(m.group(1))

main()
