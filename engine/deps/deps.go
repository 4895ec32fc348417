package deps

import (
	_ "github.com/gorilla/websocket"
	_ "github.com/klauspost/compress/flate"
	_ "github.com/youmark/pkcs8"
	_ "modernc.org/sqlite"
	_ "software.sslmate.com/src/go-pkcs12"
)
