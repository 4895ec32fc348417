package deps
import (
 _ "modernc.org/sqlite"
 _ "github.com/gorilla/websocket"
 _ "github.com/youmark/pkcs8"
 _ "software.sslmate.com/src/go-pkcs12"
 _ "github.com/klauspost/compress/flate"
)
