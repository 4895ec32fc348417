package wire

import "testing"

// CleanBody removes the protocol's keys and keeps every other member's bytes in order.
func TestCleanBodyKeepsOrderAndBytes(t *testing.T) {
	in := `{"z" : 1,"_id":"doc","a":[ 1.50, "\u00e9" ],"_rev":"2-b","m":{"y":0,"b":1},"_revisions":{"start":2,"ids":["b","a"]}}`
	want := `{"z" : 1,"a":[ 1.50, "\u00e9" ],"m":{"y":0,"b":1}}`
	got, removed, err := CleanBody([]byte(in))
	if err != nil || removed || string(got) != want {
		t.Fatalf("CleanBody = %s, %v, %v; want %s", got, removed, err, want)
	}
}
