package syncproto

import (
	"testing"

	"github.com/p2psync/libp2psync/engine/blobstore"
)

// A body sent with legacy _attachments stubs (to a peer without blobs=true) and folded
// back on receipt is the stored body again, byte for byte: its keys keep their order,
// _attachments its place and its own entries their order.
func TestLegacyAttachmentsRoundTripKeepsOrder(t *testing.T) {
	d := blobstore.DigestOf([]byte("photo")).String()
	bodies := []string{
		`{"z":1,"photo":{"@type":"blob","digest":"` + d + `","length":5},"a":[2,1],"m":{"y":1,"b":2}}`,
		`{"z":1,"_attachments":{"zz.txt":{"digest":"sha1-x","stub":true},"aa.txt":{"digest":"sha1-y","stub":true}},` +
			`"photo":{"@type":"blob","digest":"` + d + `"},"a":0}`,
	}
	for _, body := range bodies {
		sent, err := AddLegacyAttachments([]byte(body), 2)
		if err != nil {
			t.Fatal(err)
		}
		if string(sent) == body {
			t.Fatalf("no stub added to %s", body)
		}
		back, err := FoldLegacyAttachments(sent)
		if err != nil {
			t.Fatal(err)
		}
		if string(back) != body {
			t.Errorf("stored  %s\nsent    %s\nfolded  %s", body, sent, back)
		}
	}
}

// Folding keeps the other _attachments entries as they were sent, in their order.
func TestFoldLegacyAttachmentsKeepsOtherEntries(t *testing.T) {
	d := blobstore.DigestOf([]byte("b")).String()
	in := `{"n":1,"_attachments":{"z.txt":{"stub":true,"digest":"sha1-z"},"blob_/b":{"digest":"` + d + `","stub":true},` +
		`"a.txt":{"stub":true,"digest":"sha1-a"}},"b":{"@type":"blob","digest":"` + d + `"}}`
	want := `{"n":1,"_attachments":{"z.txt":{"stub":true,"digest":"sha1-z"},"a.txt":{"stub":true,"digest":"sha1-a"}},` +
		`"b":{"@type":"blob","digest":"` + d + `"}}`
	got, err := FoldLegacyAttachments([]byte(in))
	if err != nil || string(got) != want {
		t.Fatalf("FoldLegacyAttachments =\n%s (%v)\nwant\n%s", got, err, want)
	}
}
