package blip_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/p2psync/libp2psync/engine/blip"
)

// A server answering "getCheckpoint" and a client asking it twice.
func Example() {
	checkpoints := map[string]string{"cp-abc": `{"remote":42}`}
	serverDone := make(chan *blip.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := blip.Upgrade(w, r, blip.UpgradeOptions{})
		if err != nil {
			return // Upgrade has answered the request already
		}
		conn.Handle("getCheckpoint", func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			body, ok := checkpoints[req.Properties.Get("client")]
			if !ok {
				return nil, &blip.Error{Domain: "HTTP", Code: 404, Message: "missing"}
			}
			return &blip.Message{Properties: blip.Properties{{Key: "rev", Value: "1-cc"}}, Body: []byte(body)}, nil
		})
		conn.Start()
		serverDone <- conn
	}))
	defer srv.Close()

	ctx := context.Background()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/db/_blipsync"
	conn, _, err := blip.Dial(ctx, url, blip.DialOptions{})
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	conn.Start()
	fmt.Println("subprotocol:", conn.Subprotocol())

	for _, client := range []string{"cp-abc", "cp-new"} {
		req := blip.NewRequest("getCheckpoint")
		req.Properties.Set("client", client)
		resp, err := conn.Send(ctx, req)
		var be *blip.Error
		switch {
		case errors.As(err, &be):
			fmt.Printf("%s: error %s/%d %s\n", client, be.Domain, be.Code, be.Message)
		case err != nil:
			fmt.Println("send:", err)
		default:
			body, _ := resp.ReadBody()
			fmt.Printf("%s: rev %s body %s\n", client, resp.Properties.Get("rev"), body)
		}
	}

	conn.Close(blip.CloseNormal, "done")
	server := <-serverDone
	<-server.Done()
	fmt.Println("server saw:", server.Err())
	// Output:
	// subprotocol: BLIP_3+CBMobile_3
	// cp-abc: rev 1-cc body {"remote":42}
	// cp-new: error HTTP/404 missing
	// server saw: blip: connection closed (remote, code 1000, done)
}
