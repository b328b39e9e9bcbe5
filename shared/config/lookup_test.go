package config

import "testing"

// Dependency and Owner find entries through an index that follows the
// lists: an entry appended, or a list replaced, after a lookup is found
// too; refs match case-insensitively, names exactly; the first of two
// entries wins, as a scan of the list would have it.
func TestLookupsFollowTheLists(t *testing.T) {
	c := Default()
	c.Owners = []Owner{{Name: "a", Email: "a@x.example"}}
	c.Dependencies = []Dependency{{Ref: "federation/Fabrikam.example", Owner: "a"}}
	if d := c.Dependency("FEDERATION/fabrikam.EXAMPLE"); d == nil || d.Owner != "a" {
		t.Fatalf("case-insensitive ref: %+v", d)
	}
	if c.Dependency("federation/other.example") != nil || c.Owner("A") != nil {
		t.Fatal("found what is not there")
	}
	c.Dependencies = append(c.Dependencies, Dependency{Ref: "connector/x", Owner: "b"})
	c.Owners = append(c.Owners, Owner{Name: "b", Email: "b@x.example"})
	if d := c.Dependency("connector/X"); d == nil || d.Owner != "b" {
		t.Fatalf("appended entry: %+v", d)
	}
	if o := c.Owner("b"); o == nil || o.Email != "b@x.example" {
		t.Fatalf("appended owner: %+v", o)
	}
	c.Dependencies = []Dependency{{Ref: "social/Google-OAUTH", Owner: "first"}, {Ref: "social/google-oauth", Owner: "second"}}
	if d := c.Dependency("social/Google-OAUTH"); d == nil || d.Owner != "first" {
		t.Fatalf("replaced list: %+v", d)
	}
	if c.Dependency("connector/x") != nil {
		t.Fatal("an entry of the replaced list is still found")
	}
	// A copy of the config reads the same lists.
	cp := *c
	if d := cp.Dependency("social/GOOGLE-oauth"); d == nil || d.Owner != "first" {
		t.Fatalf("copy: %+v", d)
	}
}
